// -----------------------------------------------------------------------------
// File: tests/fuzz/buffered_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes buffered reading (buf/buffered.h through
// adapters/buffered_sync_reader.h) against a std::string model. The first
// bytes pick the policy and its shape (Zeroed, Uninit, Vectored<4> with
// fuzzed segment sizes, DynamicVectored, Dyn over Uninit or Vectored<3>, a
// fixed Pooled, a growing Pooled), the reader-wide limit (max_buffered), the
// read path (read_buf, readv or read(span)) and the message stream; the rest
// is a script of operations -- fill, read_until (several delimiters and
// max_bytes), read_exact, read_line, take, consume, peek -- interleaved with
// the source's own decisions: how many bytes each read delivers (1..64) and
// whether it returns WouldBlockError() instead.
//
// The model is the stream and two offsets (delivered, consumed). After every
// step: the reader holds exactly stream[consumed, delivered); buffer() is a
// non-empty prefix of it whenever something is held; the stats agree. Every
// completed operation's result is predicted from the model alone, whatever
// the chunking: the message, a clean EOF, OutOfRange (EOF inside a message)
// or ResourceExhausted (the limit min(max_bytes, limit()) reached). An
// operation cut short by WouldBlock must leave every byte read so far
// buffered.

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/buffered_sync_reader.h"
#include "buf/buffered.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

std::string Str(std::span<const std::byte> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

// The stream, delivered in fuzz-chosen pieces; exactly the capabilities in
// kCaps.
template <uint32_t kCaps>
class FuzzSource {
 public:
  FuzzSource(const std::string* data, FuzzInput* in, bool would_block)
      : data_(data), in_(in), would_block_(would_block) {}

  template <ReadBuf B>
    requires((kCaps & kReadBuf) != 0)
  absl::StatusOr<size_t> read_buf(B& b) {
    iovec iov[16];
    size_t count = 0;
    if constexpr (VectoredReadBuf<B>) {
      count = b.unfilled_iovecs(iov);
    } else {
      UninitSpan u = b.unfilled();
      if (!u.empty()) iov[count++] = u.as_iovec();
    }
    absl::StatusOr<size_t> n = Scatter(std::span<const iovec>(iov, count));
    if (n.ok()) b.advance(*n);
    return n;
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires((kCaps & kReadVectored) != 0)
  {
    return Scatter(iov);
  }

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires((kCaps & kReadSpan) != 0)
  {
    iovec one{s.data(), s.size()};
    return Scatter(std::span<const iovec>(&one, 1));
  }

  size_t offset() const { return offset_; }

 private:
  absl::StatusOr<size_t> Scatter(std::span<const iovec> iov) {
    if (would_block_ && in_->Range(0, 7) == 0) return WouldBlockError();
    size_t space = 0;
    for (const iovec& v : iov) space += v.iov_len;
    READBUF_CHECK(space > 0 || offset_ == data_->size(),
                  "the reader offered no space for a read");
    const size_t n = std::min({space, data_->size() - offset_, in_->Range<size_t>(1, 64)});
    size_t done = 0;
    for (const iovec& v : iov) {
      const size_t step = std::min(v.iov_len, n - done);
      if (step != 0) std::memcpy(v.iov_base, data_->data() + offset_ + done, step);
      done += step;
    }
    offset_ += n;
    return n;
  }

  const std::string* data_;
  FuzzInput* in_;
  bool would_block_;
  size_t offset_ = 0;
};

// What a completed message operation must return.
struct Expected {
  enum Kind { kMessage, kEof, kOutOfRange, kExhausted } kind;
  size_t length = 0;  // kMessage: bytes of the stream it covers
};

Expected ExpectUntil(const std::string& rest, std::string_view delim, size_t max_bytes,
                     size_t limit) {
  const size_t bound = std::min(max_bytes, limit);
  const size_t pos = rest.find(delim);
  if (pos != std::string::npos && pos + delim.size() <= bound) {
    return {Expected::kMessage, pos + delim.size()};
  }
  if (rest.size() >= bound) return {Expected::kExhausted};
  return {rest.empty() ? Expected::kEof : Expected::kOutOfRange};
}

Expected ExpectExact(const std::string& rest, size_t n, size_t limit) {
  if (n > limit) return {Expected::kExhausted};
  if (rest.size() >= n) return {Expected::kMessage, n};
  return {rest.empty() ? Expected::kEof : Expected::kOutOfRange};
}

template <class T>
void CheckKind(const absl::StatusOr<T>& got, bool has_value, const Expected& want) {
  switch (want.kind) {
    case Expected::kMessage:
      READBUF_CHECK(got.ok() && has_value, "expected a message, got %s",
                    got.status().ToString().c_str());
      break;
    case Expected::kEof:
      READBUF_CHECK(got.ok() && !has_value, "expected a clean EOF, got %s",
                    got.status().ToString().c_str());
      break;
    case Expected::kOutOfRange:
      READBUF_CHECK(absl::IsOutOfRange(got.status()), "expected OutOfRange, got %s",
                    got.status().ToString().c_str());
      break;
    case Expected::kExhausted:
      READBUF_CHECK(absl::IsResourceExhausted(got.status()),
                    "expected ResourceExhausted, got %s", got.status().ToString().c_str());
      break;
  }
}

constexpr std::string_view kDelimiters[] = {"\n", "\r\n", "\r\n\r\n", "ab", "|"};

template <uint32_t kCaps, class B>
void Run(B policy, BufferedOptions options, const std::string& data, bool would_block,
         FuzzInput& in) {
  FuzzSource<kCaps> source(&data, &in, would_block);
  BufferedSyncReader<FuzzSource<kCaps>*, B> reader(&source, std::move(policy), options);
  const size_t limit = reader.core().limit();
  size_t consumed = 0;

  auto check = [&] {
    const size_t delivered = source.offset();
    READBUF_CHECK(consumed <= delivered, "consumed past delivered");
    const size_t held = delivered - consumed;
    READBUF_CHECK(reader.buffered_size() == held, "holds %zu bytes, model %zu",
                  reader.buffered_size(), held);
    std::string copy(held, '\0');
    READBUF_CHECK(reader.core().copy_to(std::as_writable_bytes(std::span(copy))) == held,
                  "copy_to short");
    READBUF_CHECK(copy == data.substr(consumed, held), "held bytes differ from the stream");
    const std::span<const std::byte> front = reader.buffer();
    READBUF_CHECK(held == 0 ? front.empty() : !front.empty() && front.size() <= held,
                  "buffer() is %zu bytes with %zu held", front.size(), held);
    READBUF_CHECK(Str(front) == copy.substr(0, front.size()), "buffer() is not the front");
    READBUF_CHECK(reader.stats().bytes_read == delivered, "stats.bytes_read");
    READBUF_CHECK(reader.stats().bytes_consumed == consumed, "stats.bytes_consumed");
  };
  auto rest = [&] { return data.substr(consumed); };
  // An operation stopped by WouldBlock: nothing to predict beyond check().
  auto blocked = [&](const absl::Status& s) { return would_block && IsWouldBlock(s); };

  while (!in.empty()) {
    switch (in.Range(0, 7)) {
      case 0: {  // fill
        const size_t before = source.offset();
        const bool was_eof = reader.at_eof();
        const size_t held = reader.buffered_size();
        absl::StatusOr<size_t> n = reader.fill();
        if (blocked(n.status())) break;
        if (was_eof) {
          READBUF_CHECK(n.ok() && *n == 0, "fill after EOF must be 0");
        } else if (held + 1 > limit) {
          READBUF_CHECK(absl::IsResourceExhausted(n.status()), "fill past the limit: %s",
                        n.status().ToString().c_str());
        } else {
          READBUF_CHECK(n.ok(), "fill: %s", n.status().ToString().c_str());
          READBUF_CHECK(*n == source.offset() - before, "fill reported %zu", *n);
          READBUF_CHECK(*n != 0 || source.offset() == data.size(), "0 before the end");
        }
        break;
      }
      case 1: {  // read_until
        const std::string_view delim = kDelimiters[in.Range<size_t>(0, 4)];
        const size_t max_bytes = in.Range<size_t>(0, 400);
        absl::StatusOr<BufferedMessage> got = reader.read_until(delim, max_bytes);
        if (blocked(got.status())) break;
        const Expected want = ExpectUntil(rest(), delim, max_bytes, limit);
        CheckKind(got, got.ok() && got->has_value(), want);
        if (want.kind == Expected::kMessage) {
          READBUF_CHECK(Str(**got) == data.substr(consumed, want.length),
                        "read_until gave other bytes");
          if (in.Bool()) {
            reader.consume(want.length);
            consumed += want.length;
          }
        }
        break;
      }
      case 2: {  // read_exact
        const size_t n = in.Range<size_t>(0, 400);
        absl::StatusOr<BufferedMessage> got = reader.read_exact(n);
        if (blocked(got.status())) break;
        const Expected want = ExpectExact(rest(), n, limit);
        CheckKind(got, got.ok() && got->has_value(), want);
        if (want.kind == Expected::kMessage) {
          READBUF_CHECK(Str(**got) == data.substr(consumed, n), "read_exact gave other bytes");
        }
        break;
      }
      case 3: {  // read_line
        const size_t max_bytes = in.Range<size_t>(0, 400);
        absl::StatusOr<BufferedMessage> got = reader.read_line(max_bytes);
        if (blocked(got.status())) break;
        const Expected want = ExpectUntil(rest(), "\n", max_bytes, limit);
        CheckKind(got, got.ok() && got->has_value(), want);
        if (want.kind == Expected::kMessage) {
          std::string line = data.substr(consumed, want.length - 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          READBUF_CHECK(Str(**got) == line, "read_line gave other text");
          consumed += want.length;
        }
        break;
      }
      case 4: {  // take
        const size_t n = in.Bool() ? in.Range<size_t>(0, reader.buffered_size())
                                   : in.Range<size_t>(0, 400);
        absl::StatusOr<std::optional<PoolBytes>> got = reader.take(n);
        if (blocked(got.status())) break;
        const Expected want = ExpectExact(rest(), n, limit);
        CheckKind(got, got.ok() && got->has_value(), want);
        if (want.kind == Expected::kMessage) {
          READBUF_CHECK(Str((*got)->span()) == data.substr(consumed, n), "take gave other bytes");
          consumed += n;
        }
        break;
      }
      case 5: {  // consume
        const size_t n = in.Range<size_t>(0, reader.buffered_size());
        reader.consume(n);
        consumed += n;
        break;
      }
      case 6: {  // peek (I/O-free)
        const size_t n = in.Range<size_t>(0, reader.buffered_size());
        READBUF_CHECK(Str(reader.core().peek(n)) == data.substr(consumed, n), "peek");
        break;
      }
      default: {  // find (I/O-free)
        const std::string_view delim = kDelimiters[in.Range<size_t>(0, 4)];
        const size_t from = in.Range<size_t>(0, reader.buffered_size());
        const std::string held = data.substr(consumed, reader.buffered_size());
        const size_t want = held.find(delim, from);
        const size_t got = reader.core().find(delim, from);
        READBUF_CHECK(want == std::string::npos ? got == Buffered<B>::npos : got == want,
                      "find(from=%zu) = %zu, want %zu", from, got, want);
        break;
      }
    }
    check();
  }
}

template <class B>
void RunPath(B policy, BufferedOptions options, const std::string& data, bool would_block,
             int path, FuzzInput& in) {
  switch (path) {
    case 0:
      Run<kReadBuf>(std::move(policy), options, data, would_block, in);
      break;
    case 1:
      Run<kReadVectored>(std::move(policy), options, data, would_block, in);
      break;
    default:
      Run<kReadSpan>(std::move(policy), options, data, would_block, in);
      break;
  }
}

// A stream that is mostly short messages, so delimiters are common.
std::string MakeStream(FuzzInput& in) {
  const std::string raw = in.LengthPrefixed(1500);
  std::string out;
  for (char c : raw) {
    switch (static_cast<unsigned char>(c) % 8) {
      case 0:
        out += "\r\n";
        break;
      case 1:
        out += '\n';
        break;
      case 2:
        out += "ab";
        break;
      case 3:
        out += '|';
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace readbuf;  // NOLINT: a fuzz entry point
  fuzz::FuzzInput in(data, size);
  const int policy = in.Range(0, 7);
  const size_t capacity = in.Range<size_t>(8, 300);
  BufferedOptions options;
  if (in.Bool()) options.max_buffered = in.Range<size_t>(1, 600);
  const int path = in.Range(0, 2);
  const bool would_block = in.Bool();
  const std::string stream = fuzz::MakeStream(in);
  switch (policy) {
    case 0:
      fuzz::RunPath(Zeroed(capacity), options, stream, would_block, path, in);
      break;
    case 1:
      fuzz::RunPath(Uninit(capacity), options, stream, would_block, path, in);
      break;
    case 2: {
      const size_t a = in.Range<size_t>(1, 80), b = in.Range<size_t>(0, 80),
                   c = in.Range<size_t>(0, 80), d = in.Range<size_t>(0, 80);
      fuzz::RunPath(Vectored<4>({a, b, c, d}), options, stream, would_block, path, in);
      break;
    }
    case 3:
      fuzz::RunPath(DynamicVectored(capacity, in.Range<size_t>(1, 9)), options, stream,
                    would_block, path, in);
      break;
    case 4:
      fuzz::RunPath(Dyn(Uninit(capacity)), options, stream, would_block, path, in);
      break;
    case 5:
      fuzz::RunPath(Dyn(Vectored<3>(capacity)), options, stream, would_block, path, in);
      break;
    case 6: {  // a fixed Pooled: one block size class
      const auto c = static_cast<uint32_t>(capacity);
      Pooled::Options o;
      o.sizing = {.min = c, .initial = c, .max = c};
      fuzz::RunPath(Pooled(o), options, stream, would_block, path, in);
      break;
    }
    default: {  // a growing Pooled that starts small and may shrink
      Pooled::Options o;
      o.sizing = {.min = 64, .initial = 64,
                  .max = static_cast<uint32_t>(std::max<size_t>(64, capacity * 4))};
      fuzz::RunPath(Pooled(o), options, stream, would_block, path, in);
      break;
    }
  }
  return 0;
}
