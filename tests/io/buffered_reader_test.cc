// Tests for io/buffered_reader.h on both backends: messages written in small
// pieces reach read_until / read_line / read_exact / take intact on every
// policy and every read path (read_into, ready + try_read, read_buf,
// read(span)); fills and message reads cancelled by timeout() or by
// cancelling their task read nothing and leave the reader usable; a Pooled
// reader holds no block while it waits with nothing unconsumed; and the
// adaptive-shrink regression (200 tiny requests, then a 1,000-byte header).
#include "io/buffered_reader.h"

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/buffered.h"
#include "buf/dyn.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/async_fd.h"
#include "io/io_status.h"
#include "io/net.h"
#include "io/pipe.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/buf/buffered_test_util.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using ::readbuf::testing::DynVectored;
using ::readbuf::testing::MakeBufferedPolicy;
using ::readbuf::testing::Str;
using testing_io::AllBackends;
using testing_io::BackendName;

#define CO_EXPECT(cond, ...)                                            \
  do {                                                                  \
    if (!(cond)) {                                                      \
      co_return absl::InternalError(absl::StrCat(                       \
          __FILE__, ":", __LINE__, ": ", #cond, " -- ", __VA_ARGS__));  \
    }                                                                   \
  } while (0)

// --- Streams that expose exactly one read path -------------------------------

// ready() + try_read(b) only (AsyncReadyReader).
struct ReadyOnly {
  UnixStream* s;
  AsyncFd::ReadinessAwaiter ready() { return s->ready(); }
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    return s->try_read(b);
  }
};

// co_await read_buf(b) only (AsyncBufReader).
struct BufOnly {
  UnixStream* s;
  template <ReadBuf B>
  Task<absl::StatusOr<size_t>> read_buf(B& b) {
    for (;;) {
      if (absl::Status r = co_await s->ready(); !r.ok()) co_return r;
      absl::StatusOr<size_t> n = s->try_read(b);
      if (!n.ok() && IsWouldBlock(n.status())) continue;
      co_return n;
    }
  }
};

// co_await read(span) only (AsyncSpanReader).
struct SpanOnly {
  UnixStream* s;
  Task<absl::StatusOr<size_t>> read(std::span<std::byte> dst) { return s->read(dst); }
};

static_assert(BufferedReader<UnixStream*, Uninit>::kPath == BufferedReadPath::kReadInto);
static_assert(BufferedReader<TcpStream, Uninit>::kPath == BufferedReadPath::kReadInto);
static_assert(BufferedReader<PipeReader*, Uninit>::kPath == BufferedReadPath::kReadInto);
static_assert(BufferedReader<ReadyOnly, Uninit>::kPath == BufferedReadPath::kReadyTryRead);
static_assert(BufferedReader<BufOnly, Uninit>::kPath == BufferedReadPath::kReadBuf);
static_assert(BufferedReader<SpanOnly, Uninit>::kPath == BufferedReadPath::kReadSpan);
static_assert(!BufferedReader<UnixStream*, Uninit>::kZeroes);
static_assert(BufferedReader<SpanOnly, Uninit>::kZeroes);
static_assert(BufferedReader<UnixStream*, Zeroed>::kZeroes);
static_assert(BufferedReader<UnixStream*, Pooled>::kCopies == 0);

struct AsIs {
  UnixStream* operator()(UnixStream* s) const { return s; }
};
struct MakeReadyOnly {
  ReadyOnly operator()(UnixStream* s) const { return ReadyOnly{s}; }
};
struct MakeBufOnly {
  BufOnly operator()(UnixStream* s) const { return BufOnly{s}; }
};
struct MakeSpanOnly {
  SpanOnly operator()(UnixStream* s) const { return SpanOnly{s}; }
};

// --- The exchange ---------------------------------------------------------------

const std::vector<std::string>& Heads() {
  static const auto* heads = new std::vector<std::string>{
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /x HTTP/1.1\r\n\r\n",
      "GET /long/path HTTP/1.1\r\nA: b\r\n\r\n",
  };
  return *heads;
}

std::string Body() {
  std::string body;
  for (int i = 0; i < 40; ++i) body.push_back(static_cast<char>('A' + i % 26));
  return body;
}

std::string Stream() {
  std::string data;
  for (const std::string& h : Heads()) data += h;
  return data + "line one\r\nline two\nBODY\n" + Body();
}

// Writes `data` in pieces of 1..7 bytes, yielding to the reader between
// them; then shuts the writing side down (EOF).
Task<absl::Status> WriteInPieces(UnixStream* s, std::string data, uint32_t seed) {
  std::mt19937 rng(seed);
  size_t off = 0;
  while (off < data.size()) {
    const size_t n = std::min<size_t>(1 + rng() % 7, data.size() - off);
    if (absl::Status st = co_await s->write_all(std::string_view(data).substr(off, n));
        !st.ok()) {
      co_return st;
    }
    off += n;
    co_await yield_now();
  }
  co_return s->shutdown(SHUT_WR);
}

template <class In>
Task<absl::Status> ReadTheStream(In& in) {
  for (const std::string& want : Heads()) {
    absl::StatusOr<BufferedMessage> head = co_await in.read_until("\r\n\r\n", 1024);
    CO_EXPECT(head.ok(), head.status().ToString());
    CO_EXPECT(head->has_value(), "early EOF");
    CO_EXPECT(Str(**head) == want, Str(**head));
    in.consume((*head)->size());
  }
  for (const char* want : {"line one", "line two"}) {
    absl::StatusOr<BufferedMessage> line = co_await in.read_line(64);
    CO_EXPECT(line.ok() && line->has_value(), line.status().ToString());
    CO_EXPECT(Str(**line) == want, Str(**line));
  }
  absl::StatusOr<BufferedMessage> tag = co_await in.read_until('\n', 64);
  CO_EXPECT(tag.ok() && tag->has_value() && Str(**tag) == "BODY\n", tag.status().ToString());
  in.consume(5);
  absl::StatusOr<std::optional<PoolBytes>> body = co_await in.take(40);
  CO_EXPECT(body.ok() && body->has_value(), body.status().ToString());
  CO_EXPECT(Str((*body)->span()) == Body(), Str((*body)->span()));
  absl::StatusOr<BufferedMessage> end = co_await in.read_until("\r\n\r\n", 1024);
  CO_EXPECT(end.ok() && !end->has_value(), "expected a clean EOF");
  co_return absl::OkStatus();
}

template <class B, class Wrap>
Task<absl::Status> Exchange(B policy, Wrap wrap, uint32_t seed) {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  BufferedReader<decltype(wrap(&pair->first)), B> in(wrap(&pair->first), std::move(policy));
  JoinHandle<absl::Status> writer = spawn(WriteInPieces(&pair->second, Stream(), seed));
  absl::Status read = co_await ReadTheStream(in);
  absl::Status written = co_await writer;
  if (!read.ok()) co_return read;
  co_return written;
}

class BufferedReaderTest : public testing_io::BackendSuite<1> {
 protected:
  template <class Wrap>
  void EveryPolicy(Wrap wrap) {
    Runtime rt(Options());
    for (uint32_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(seed);
      EXPECT_TRUE(rt.block_on(Exchange(MakeBufferedPolicy<Zeroed>(64), wrap, seed)).ok());
      EXPECT_TRUE(rt.block_on(Exchange(MakeBufferedPolicy<Uninit>(64), wrap, seed)).ok());
      absl::Status v = rt.block_on(Exchange(MakeBufferedPolicy<Vectored<4>>(64), wrap, seed));
      EXPECT_TRUE(v.ok()) << v;
      EXPECT_TRUE(rt.block_on(Exchange(MakeBufferedPolicy<Dyn>(64), wrap, seed)).ok());
      absl::Status d = rt.block_on(Exchange(MakeBufferedPolicy<DynVectored>(64), wrap, seed));
      EXPECT_TRUE(d.ok()) << d;
      absl::Status p = rt.block_on(Exchange(MakeBufferedPolicy<Pooled>(64), wrap, seed));
      EXPECT_TRUE(p.ok()) << p;
      absl::Status grows = rt.block_on(Exchange(Pooled(), wrap, seed));
      EXPECT_TRUE(grows.ok()) << grows;
    }
  }
};

TEST_P(BufferedReaderTest, EveryPolicyOverReadInto) { EveryPolicy(AsIs()); }
TEST_P(BufferedReaderTest, EveryPolicyOverReadyAndTryRead) { EveryPolicy(MakeReadyOnly()); }
TEST_P(BufferedReaderTest, EveryPolicyOverReadBuf) { EveryPolicy(MakeBufOnly()); }
TEST_P(BufferedReaderTest, EveryPolicyOverReadSpan) { EveryPolicy(MakeSpanOnly()); }

// An owned TcpStream (replies written through stream()) and a pipe.
Task<absl::Status> TcpEchoOfLines() {
  absl::StatusOr<TcpListener> listener = TcpListener::bind(testing_io::Loopback());
  if (!listener.ok()) co_return listener.status();
  absl::StatusOr<testing_io::ConnectedPair> pair = co_await testing_io::Connect(&*listener);
  if (!pair.ok()) co_return pair.status();
  BufferedReader<TcpStream, Uninit> in(std::move(pair->server), Uninit(256));
  if (absl::Status s = co_await pair->client.write_all(std::string_view("a\nbb\nccc\n"));
      !s.ok()) {
    co_return s;
  }
  CO_EXPECT(pair->client.shutdown(SHUT_WR).ok(), "shutdown");
  for (;;) {
    absl::StatusOr<BufferedMessage> line = co_await in.read_until('\n', 64);
    if (!line.ok()) co_return line.status();
    if (!line->has_value()) break;
    if (absl::Status s = co_await in.stream().write_all(**line); !s.ok()) co_return s;
    in.consume((*line)->size());
  }
  in.stream().close();
  std::string echoed;
  std::byte chunk[64];
  for (;;) {
    absl::StatusOr<size_t> n = co_await pair->client.read(chunk);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    echoed += Str(std::span<const std::byte>(chunk, *n));
  }
  CO_EXPECT(echoed == "a\nbb\nccc\n", echoed);
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, OwnsATcpStreamAndWritesThroughIt) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(TcpEchoOfLines());
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> PipeFrames() {
  absl::StatusOr<Pipe> p = Pipe::Create();
  if (!p.ok()) co_return p.status();
  BufferedReader<PipeReader*, Vectored<4>> in(&p->reader, Vectored<4>(64));
  const std::string data = "12345678901234567890|abc|";
  if (absl::Status s = co_await p->writer.write_all(std::as_bytes(std::span(data)));
      !s.ok()) {
    co_return s;
  }
  p->writer.close();
  absl::StatusOr<BufferedMessage> first = co_await in.read_exact(21);
  CO_EXPECT(first.ok() && first->has_value() && Str(**first) == data.substr(0, 21), "");
  CO_EXPECT(in.stats().linearizations == 1, "21 bytes over 16-byte segments");
  in.consume(21);
  absl::StatusOr<BufferedMessage> second = co_await in.read_until('|', 16);
  CO_EXPECT(second.ok() && second->has_value() && Str(**second) == "abc|", "");
  in.consume(4);
  absl::StatusOr<size_t> eof = co_await in.fill();
  CO_EXPECT(eof.ok() && *eof == 0, "expected EOF");
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, ReadsAPipe) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(PipeFrames());
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> EofInsideAMessage() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  BufferedReader<UnixStream*, Pooled> in(&pair->first);
  absl::Status w1 = co_await pair->second.write_all(std::string_view("GET / HTTP/1.1\r\n"));
  CO_EXPECT(w1.ok(), w1.ToString());
  CO_EXPECT(pair->second.shutdown(SHUT_WR).ok(), "");
  absl::StatusOr<BufferedMessage> head = co_await in.read_until("\r\n\r\n", 8192);
  CO_EXPECT(absl::IsOutOfRange(head.status()), head.status().ToString());
  CO_EXPECT(head.status().message() == "read_until: EOF after 16 bytes, before the delimiter",
            head.status().ToString());
  CO_EXPECT(in.buffered_size() == 16, "the partial message stays buffered");
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, EofInsideAMessageCarriesTheByteCount) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(EofInsideAMessage());
  EXPECT_TRUE(s.ok()) << s;
}

// --- Cancellation ------------------------------------------------------------------

// A fill and a read_until cancelled by timeout(), with a partial message
// buffered and with nothing buffered: nothing is read, the bytes stay, the
// reader completes the message afterwards.
template <class B, class Wrap>
Task<absl::Status> CancelledReadsReadNothing(B policy, Wrap wrap) {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  BufferedReader<decltype(wrap(&pair->first)), B> in(wrap(&pair->first), std::move(policy));
  UnixStream& peer = pair->second;

  // Nothing buffered: the fill times out, having read nothing.
  absl::StatusOr<size_t> idle = co_await timeout(in.fill(), absl::Milliseconds(5));
  CO_EXPECT(absl::IsDeadlineExceeded(idle.status()), idle.status().ToString());
  CO_EXPECT(in.buffered_size() == 0 && in.stats().reads == 0, "read something");
  if constexpr (std::is_same_v<B, Pooled> &&
                decltype(in)::kPath != BufferedReadPath::kReadBuf &&
                decltype(in)::kPath != BufferedReadPath::kReadSpan) {
    CO_EXPECT(!in.core().policy().holds_memory(), "an idle Pooled reader holds a block");
  }

  absl::Status w11 = co_await peer.write_all(std::string_view("GET / HT"));
  CO_EXPECT(w11.ok(), w11.ToString());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<BufferedMessage> head =
        co_await timeout(in.read_until("\r\n\r\n", 1024), absl::Milliseconds(5));
    CO_EXPECT(absl::IsDeadlineExceeded(head.status()), head.status().ToString());
    CO_EXPECT(in.buffered_size() == 8, absl::StrCat(in.buffered_size(), " bytes buffered"));
    const uint64_t reads = in.stats().reads;
    absl::StatusOr<size_t> n = co_await timeout(in.fill(), absl::Milliseconds(3));
    CO_EXPECT(absl::IsDeadlineExceeded(n.status()), n.status().ToString());
    CO_EXPECT(in.stats().reads == reads && in.buffered_size() == 8, "a cancelled fill read");
    CO_EXPECT(Str(in.core().peek(8)) == "GET / HT", Str(in.core().peek(8)));
  }
  absl::Status w12 = co_await peer.write_all(std::string_view("TP/1.1\r\n\r\nnext\n"));
  CO_EXPECT(w12.ok(), w12.ToString());
  absl::StatusOr<BufferedMessage> head =
      co_await timeout(in.read_until("\r\n\r\n", 1024), absl::Seconds(10));
  CO_EXPECT(head.ok() && head->has_value(), head.status().ToString());
  CO_EXPECT(Str(**head) == "GET / HTTP/1.1\r\n\r\n", Str(**head));
  in.consume((*head)->size());
  absl::StatusOr<BufferedMessage> next = co_await in.read_line(64);
  CO_EXPECT(next.ok() && next->has_value() && Str(**next) == "next", "");
  co_return absl::OkStatus();
}

template <class Wrap>
void CancelOnEveryPolicy(Runtime& rt, Wrap wrap) {
  absl::Status z = rt.block_on(CancelledReadsReadNothing(MakeBufferedPolicy<Zeroed>(64), wrap));
  EXPECT_TRUE(z.ok()) << z;
  absl::Status u = rt.block_on(CancelledReadsReadNothing(MakeBufferedPolicy<Uninit>(64), wrap));
  EXPECT_TRUE(u.ok()) << u;
  absl::Status v =
      rt.block_on(CancelledReadsReadNothing(MakeBufferedPolicy<Vectored<4>>(64), wrap));
  EXPECT_TRUE(v.ok()) << v;
  absl::Status d = rt.block_on(CancelledReadsReadNothing(MakeBufferedPolicy<Dyn>(64), wrap));
  EXPECT_TRUE(d.ok()) << d;
  absl::Status p = rt.block_on(CancelledReadsReadNothing(Pooled(), wrap));
  EXPECT_TRUE(p.ok()) << p;
}

TEST_P(BufferedReaderTest, CancelledFillReadsNothingOverReadInto) {
  Runtime rt(Options());
  CancelOnEveryPolicy(rt, AsIs());
}
TEST_P(BufferedReaderTest, CancelledFillReadsNothingOverReadyAndTryRead) {
  Runtime rt(Options());
  CancelOnEveryPolicy(rt, MakeReadyOnly());
}
TEST_P(BufferedReaderTest, CancelledFillReadsNothingOverReadBuf) {
  Runtime rt(Options());
  CancelOnEveryPolicy(rt, MakeBufOnly());
}
TEST_P(BufferedReaderTest, CancelledFillReadsNothingOverReadSpan) {
  Runtime rt(Options());
  CancelOnEveryPolicy(rt, MakeSpanOnly());
}

Task<absl::StatusOr<BufferedMessage>> ReadHead(BufferedReader<UnixStream*, Pooled>* in) {
  co_return co_await in->read_until("\r\n\r\n", 8192);
}

// Cancelling the task that waits inside read_until (JoinHandle::cancel).
Task<absl::Status> CancelTheTask() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  BufferedReader<UnixStream*, Pooled> in(&pair->first);
  absl::Status w2 = co_await pair->second.write_all(std::string_view("PUT /"));
  CO_EXPECT(w2.ok(), w2.ToString());
  JoinHandle<absl::StatusOr<BufferedMessage>> h = spawn(ReadHead(&in));
  co_await sleep_for(absl::Milliseconds(5));
  h.cancel();
  absl::StatusOr<BufferedMessage> cancelled = co_await h;
  CO_EXPECT(absl::IsCancelled(cancelled.status()), cancelled.status().ToString());
  CO_EXPECT(in.buffered_size() == 5, "the partial message must stay buffered");
  absl::Status w3 = co_await pair->second.write_all(std::string_view(" HTTP/1.1\r\n\r\n"));
  CO_EXPECT(w3.ok(), w3.ToString());
  absl::StatusOr<BufferedMessage> head = co_await in.read_until("\r\n\r\n", 8192);
  CO_EXPECT(head.ok() && head->has_value() && Str(**head) == "PUT / HTTP/1.1\r\n\r\n",
            head.status().ToString());
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, CancellingTheWaitingTaskKeepsTheReaderUsable) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(CancelTheTask());
  EXPECT_TRUE(s.ok()) << s;
}

// --- Pooled: memory while waiting, adaptive shrink ----------------------------------

Task<absl::StatusOr<BufferedMessage>> ReadHeadConsumed(BufferedReader<UnixStream*, Pooled>* in) {
  absl::StatusOr<BufferedMessage> head = co_await in->read_until("\r\n\r\n", 8192);
  if (head.ok() && head->has_value()) in->consume((*head)->size());
  co_return head;
}

Task<absl::Status> NoBlockWhileWaiting() {
  BufferPool pool;  // this core's own, so its bytes_in_use is only ours
  Pooled::Options options;
  options.pool = &pool;
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  UnixStream& peer = pair->second;
  BufferedReader<UnixStream*, Pooled> in(&pair->first, Pooled(options));
  for (int round = 0; round < 3; ++round) {
    JoinHandle<absl::StatusOr<BufferedMessage>> h = spawn(ReadHeadConsumed(&in));
    co_await sleep_for(absl::Milliseconds(3));
    CO_EXPECT(pool.Stats().bytes_in_use == 0,
              absl::StrCat("round ", round, ": ", pool.Stats().bytes_in_use,
                           " bytes held while waiting with nothing unconsumed"));
    absl::Status w13 = co_await peer.write_all(std::string_view("GET / HTTP/1.1\r\n"));
  CO_EXPECT(w13.ok(), w13.ToString());
    co_await sleep_for(absl::Milliseconds(3));
    // A partial message is unconsumed data: its block is held (and only it).
    CO_EXPECT(pool.Stats().bytes_in_use == in.core().policy().capacity() &&
                  in.buffered_size() == 16,
              "partial message");
    absl::Status w14 = co_await peer.write_all(std::string_view("\r\n"));
  CO_EXPECT(w14.ok(), w14.ToString());
    absl::StatusOr<BufferedMessage> head = co_await h;
    CO_EXPECT(head.ok() && head->has_value(), head.status().ToString());
  }
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, PooledHoldsNoBlockWhileWaitingWithNothingUnconsumed) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(NoBlockWhileWaiting());
  EXPECT_TRUE(s.ok()) << s;
}

// The measured bug: after 200 tiny requests a default Pooled's adaptive size
// is 512 B, and a 1,000-byte header must still be accepted, as it is on a
// fresh connection.
Task<absl::Status> AdaptiveShrinkRegression() {
  const std::string tiny = "GET / HTTP/1.1\r\n\r\n";
  const std::string big =
      "GET / HTTP/1.1\r\nX-Pad: " + std::string(1000 - 27, 'p') + "\r\n\r\n";
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  BufferedReader<UnixStream*, Pooled> in(&pair->first);
  for (int i = 0; i < 200; ++i) {
    absl::Status w4 = co_await pair->second.write_all(std::string_view(tiny));
  CO_EXPECT(w4.ok(), w4.ToString());
    absl::StatusOr<BufferedMessage> head = co_await in.read_until("\r\n\r\n", 8192);
    CO_EXPECT(head.ok() && head->has_value() && Str(**head) == tiny, head.status().ToString());
    in.consume((*head)->size());
  }
  CO_EXPECT(in.core().policy().next_block_size() == 512,
            absl::StrCat("adaptive size ", in.core().policy().next_block_size()));
  absl::Status w5 = co_await pair->second.write_all(std::string_view(big));
  CO_EXPECT(w5.ok(), w5.ToString());
  absl::StatusOr<BufferedMessage> head = co_await in.read_until("\r\n\r\n", 8192);
  CO_EXPECT(head.ok(), head.status().ToString());
  CO_EXPECT(head->has_value() && (*head)->size() == 1000, "");
  CO_EXPECT(in.stats().growths >= 1, "expected a growth");

  // And a fresh connection accepts the same header.
  absl::StatusOr<std::pair<UnixStream, UnixStream>> fresh_pair = UnixStream::Pair();
  if (!fresh_pair.ok()) co_return fresh_pair.status();
  BufferedReader<UnixStream*, Pooled> fresh(&fresh_pair->first);
  absl::Status w6 = co_await fresh_pair->second.write_all(std::string_view(big));
  CO_EXPECT(w6.ok(), w6.ToString());
  absl::StatusOr<BufferedMessage> fresh_head = co_await fresh.read_until("\r\n\r\n", 8192);
  CO_EXPECT(fresh_head.ok() && fresh_head->has_value() && (*fresh_head)->size() == 1000, "");
  co_return absl::OkStatus();
}

TEST_P(BufferedReaderTest, AdaptiveShrinkNeverRefusesWhatAFreshConnectionAccepts) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(AdaptiveShrinkRegression());
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, BufferedReaderTest, ::testing::ValuesIn(AllBackends()),
                         BackendName);

}  // namespace
}  // namespace readbuf
