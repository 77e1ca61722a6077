// Tests for adapters/buffered_sync_reader.h over every policy: every message
// split at every byte boundary (and reads of 1..k bytes), pipelined messages
// in one read, EOF inside a message and at a boundary, max_bytes and
// capacity limits, read_line's CRLF handling, read_exact / take (zero-copy
// under Pooled), a non-blocking reader's WouldBlock in the middle of a
// message, and the four read paths (read_buf, try_read, readv, read).
#include "adapters/buffered_sync_reader.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/buffered.h"
#include "buf/dyn.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/buf/buffered_test_util.h"

namespace readbuf {
namespace {

using ::readbuf::testing::ChunkReader;
using ::readbuf::testing::DynVectored;
using ::readbuf::testing::MakeBufferedPolicy;
using ::readbuf::testing::Str;
using ::testing::HasSubstr;

using BufSource = ChunkReader<kReadBuf>;

// Three HTTP-like request heads, then the same as lines with CRLF and LF.
const std::vector<std::string>& Heads() {
  static const auto* heads = new std::vector<std::string>{
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /x HTTP/1.1\r\n\r\n",
      "GET /long/path HTTP/1.1\r\nA: b\r\n\r\n",
  };
  return *heads;
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// Reads every head with read_until and checks them, then a clean EOF.
template <class Reader>
void ExpectHeads(Reader& in, const std::string& trace) {
  SCOPED_TRACE(trace);
  for (const std::string& want : Heads()) {
    absl::StatusOr<BufferedMessage> head = in.read_until("\r\n\r\n", 1024);
    ASSERT_TRUE(head.ok()) << head.status();
    ASSERT_TRUE(head->has_value());
    EXPECT_EQ(Str(**head), want);
    in.consume((*head)->size());
  }
  absl::StatusOr<BufferedMessage> end = in.read_until("\r\n\r\n", 1024);
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_FALSE(end->has_value());
}

template <class B>
class BufferedSyncReaderTest : public ::testing::Test {};

using Policies =
    ::testing::Types<Zeroed, Uninit, Vectored<4>, Dyn, DynVectored, Pooled>;
TYPED_TEST_SUITE(BufferedSyncReaderTest, Policies);

// Capacity 64 (under two heads): compaction happens, and for Vectored and
// DynVectored, messages cross segment boundaries.
constexpr size_t kSmall = 64;

TYPED_TEST(BufferedSyncReaderTest, EveryMessageSplitAtEveryByteBoundary) {
  const std::string data = Joined(Heads());
  for (size_t split = 1; split < data.size(); ++split) {
    BufferedSyncReader in(BufSource(data, {split, data.size()}),
                          MakeBufferedPolicy<TypeParam>(kSmall));
    ExpectHeads(in, absl::StrCat("split at ", split));
  }
}

TYPED_TEST(BufferedSyncReaderTest, ReadsOfOneToKBytes) {
  const std::string data = Joined(Heads());
  for (size_t k = 1; k <= 9; ++k) {
    std::vector<size_t> chunks;
    for (size_t i = 1; i <= k; ++i) chunks.push_back(i);  // 1, 2, ..., k
    BufferedSyncReader in(BufSource(data, chunks), MakeBufferedPolicy<TypeParam>(kSmall));
    ExpectHeads(in, absl::StrCat("reads of 1..", k));
    for (size_t start = 1; start < k; ++start) {  // every phase of the cycle
      std::vector<size_t> rotated(chunks.begin() + static_cast<long>(start), chunks.end());
      rotated.insert(rotated.end(), chunks.begin(), chunks.begin() + static_cast<long>(start));
      BufferedSyncReader again(BufSource(data, rotated), MakeBufferedPolicy<TypeParam>(kSmall));
      ExpectHeads(again, absl::StrCat("reads of 1..", k, " from ", start));
    }
  }
}

TYPED_TEST(BufferedSyncReaderTest, LinesSplitAtEveryByteBoundary) {
  const std::string data = "first\r\nsecond\n\r\nlast line\n";
  const std::vector<std::string> want = {"first", "second", "", "last line"};
  for (size_t split = 1; split < data.size(); ++split) {
    SCOPED_TRACE(split);
    BufferedSyncReader in(BufSource(data, {split, data.size()}),
                          MakeBufferedPolicy<TypeParam>(kSmall));
    for (const std::string& line : want) {
      absl::StatusOr<BufferedMessage> got = in.read_line(64);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(got->has_value());
      EXPECT_EQ(Str(**got), line);
    }
    absl::StatusOr<BufferedMessage> end = in.read_line(64);
    ASSERT_TRUE(end.ok());
    EXPECT_FALSE(end->has_value());
  }
}

TYPED_TEST(BufferedSyncReaderTest, FramedBodiesSplitAtEveryByteBoundary) {
  // A 1-byte length, then that many bytes: read_exact + consume.
  std::string data;
  for (int len : {5, 0, 17, 1, 30}) {
    data.push_back(static_cast<char>(len));
    for (int i = 0; i < len; ++i) data.push_back(static_cast<char>('a' + i));
  }
  for (size_t split = 1; split < data.size(); ++split) {
    SCOPED_TRACE(split);
    BufferedSyncReader in(BufSource(data, {split, data.size()}),
                          MakeBufferedPolicy<TypeParam>(kSmall));
    for (int len : {5, 0, 17, 1, 30}) {
      absl::StatusOr<BufferedMessage> header = in.read_exact(1);
      ASSERT_TRUE(header.ok() && header->has_value());
      ASSERT_EQ(static_cast<int>((**header)[0]), len);
      in.consume(1);
      absl::StatusOr<BufferedMessage> body = in.read_exact(static_cast<size_t>(len));
      ASSERT_TRUE(body.ok() && body->has_value()) << body.status();
      std::string expect;
      for (int i = 0; i < len; ++i) expect.push_back(static_cast<char>('a' + i));
      EXPECT_EQ(Str(**body), expect);
      in.consume(static_cast<size_t>(len));
    }
    absl::StatusOr<BufferedMessage> end = in.read_exact(1);
    ASSERT_TRUE(end.ok());
    EXPECT_FALSE(end->has_value());
  }
}

TYPED_TEST(BufferedSyncReaderTest, PipelinedMessagesInOneRead) {
  std::string data;
  std::vector<std::string> messages;
  for (int i = 0; i < 50; ++i) {
    messages.push_back(absl::StrCat("message ", i, std::string(i % 7, '.'), "\n"));
    data += messages.back();
  }
  BufferedSyncReader in(BufSource(data, {}), MakeBufferedPolicy<TypeParam>(4096));
  for (const std::string& want : messages) {
    absl::StatusOr<BufferedMessage> got = in.read_until('\n', 256);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ(Str(**got), want);
    in.consume((*got)->size());
  }
  EXPECT_EQ(in.stats().reads, 1u);  // one read brought all 50
  EXPECT_EQ(in.inner().calls(), 1u);
  absl::StatusOr<BufferedMessage> end = in.read_until('\n', 256);
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(in.stats().bytes_copied(), 0u);
}

TYPED_TEST(BufferedSyncReaderTest, EofInsideAMessageIsAnErrorWithTheCount) {
  BufferedSyncReader in(BufSource("abc\ndefghijklmnopqrs", {3}),
                        MakeBufferedPolicy<TypeParam>(kSmall));
  absl::StatusOr<BufferedMessage> first = in.read_until('\n', 64);
  ASSERT_TRUE(first.ok() && first->has_value());
  in.consume(4);
  absl::StatusOr<BufferedMessage> cut = in.read_until('\n', 64);
  EXPECT_TRUE(absl::IsOutOfRange(cut.status())) << cut.status();
  EXPECT_EQ(cut.status().message(), "read_until: EOF after 16 bytes, before the delimiter");
  EXPECT_EQ(in.buffered_size(), 16u);  // the partial message stays readable
  EXPECT_EQ(Str(in.core().peek(16)), "defghijklmnopqrs");
  // Sticky: asking again gives the same answer without reading.
  const size_t calls = in.inner().calls();
  EXPECT_TRUE(absl::IsOutOfRange(in.read_until('\n', 64).status()));
  EXPECT_EQ(in.inner().calls(), calls);
  absl::StatusOr<BufferedMessage> exact = in.read_exact(20);
  EXPECT_EQ(exact.status().message(), "read_exact(20): EOF after 16 bytes");
  absl::StatusOr<BufferedMessage> line = in.read_line(64);
  EXPECT_EQ(line.status().message(), "read_line: EOF after 16 bytes, before the LF");
  absl::StatusOr<std::optional<PoolBytes>> taken = in.take(20);
  EXPECT_EQ(taken.status().message(), "take(20): EOF after 16 bytes");
}

TYPED_TEST(BufferedSyncReaderTest, EofAtABoundaryIsClean) {
  BufferedSyncReader in(BufSource("one\n", {}), MakeBufferedPolicy<TypeParam>(kSmall));
  absl::StatusOr<BufferedMessage> one = in.read_until('\n', 64);
  ASSERT_TRUE(one.ok() && one->has_value());
  in.consume(4);
  absl::StatusOr<size_t> n = in.fill();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(in.at_eof());
  EXPECT_FALSE(in.read_until('\n', 64)->has_value());
  EXPECT_FALSE(in.read_line(64)->has_value());
  EXPECT_FALSE(in.read_exact(3)->has_value());
  EXPECT_FALSE(in.take(3)->has_value());
}

TYPED_TEST(BufferedSyncReaderTest, MaxBytesIsResourceExhaustedNamingTheLimit) {
  BufferedSyncReader in(BufSource("0123456789\n01234567\n", {4}),
                        MakeBufferedPolicy<TypeParam>(kSmall));
  absl::StatusOr<BufferedMessage> too_long = in.read_until('\n', 8);
  EXPECT_TRUE(absl::IsResourceExhausted(too_long.status()));
  EXPECT_EQ(too_long.status().message(),
            "read_until: no delimiter within max_bytes=8 (8 bytes buffered)");
  // The caller may skip the offending message...
  absl::StatusOr<BufferedMessage> skipped = in.read_exact(11);
  ASSERT_TRUE(skipped.ok() && skipped->has_value());
  in.consume(11);
  absl::StatusOr<BufferedMessage> fits = in.read_until('\n', 9);  // ...exactly 9
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(Str(**fits), "01234567\n");
  absl::StatusOr<BufferedMessage> line = in.read_line(0);
  EXPECT_THAT(line.status().message(), HasSubstr("read_line: no LF within max_bytes=0"));
}

TYPED_TEST(BufferedSyncReaderTest, FixedCapacityIsTheLimitPooledGrows) {
  const std::string line = std::string(200, 'x') + "\n";
  BufferedSyncReader in(BufSource(line, {16}), MakeBufferedPolicy<TypeParam>(kSmall));
  absl::StatusOr<BufferedMessage> got = in.read_until('\n', 8192);
  EXPECT_TRUE(absl::IsResourceExhausted(got.status()));
  // A Dyn forwards growth but holds a fixed Uninit / Vectored here.
  if constexpr (std::is_same_v<TypeParam, Pooled>) {
    EXPECT_THAT(got.status().message(), HasSubstr("max_capacity=64"));
  } else {
    EXPECT_THAT(got.status().message(),
                HasSubstr("no delimiter within capacity=64 of a fixed-capacity"));
    EXPECT_THAT(got.status().message(), HasSubstr("(64 bytes buffered)"));
  }
  // A default Pooled grows to fit, one copy of the tail per growth.
  BufferedSyncReader grows(BufSource(line, {16}), Pooled(Pooled::Options{
      .sizing = {.min = 64, .initial = 64, .max = 4096}}));
  absl::StatusOr<BufferedMessage> whole = grows.read_until('\n', 8192);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(Str(**whole), line);
  EXPECT_EQ(grows.stats().growths, 2u);  // 64 -> 128 -> 256
  EXPECT_EQ(grows.stats().bytes_grown, 64u + 128u);
}

TYPED_TEST(BufferedSyncReaderTest, ReaderWideLimit) {
  BufferedOptions options;
  options.max_buffered = 32;
  BufferedSyncReader in(BufSource(std::string(100, 'y'), {}),
                        MakeBufferedPolicy<TypeParam>(kSmall), options);
  absl::StatusOr<BufferedMessage> got = in.read_until('\n', 8192);
  EXPECT_TRUE(absl::IsResourceExhausted(got.status()));
  EXPECT_THAT(got.status().message(), HasSubstr("no delimiter within max_buffered=32"));
  EXPECT_TRUE(absl::IsResourceExhausted(in.read_exact(33).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(in.fill().status()));
}

TYPED_TEST(BufferedSyncReaderTest, TakeHandsOutBodies) {
  const std::string data = "HEAD\n" + std::string(40, 'b') + "HEAD\n" + std::string(40, 'c');
  BufferedSyncReader in(BufSource(data, {7}), MakeBufferedPolicy<TypeParam>(kSmall));
  for (char c : {'b', 'c'}) {
    absl::StatusOr<BufferedMessage> head = in.read_until('\n', 64);
    ASSERT_TRUE(head.ok() && head->has_value());
    in.consume(5);
    absl::StatusOr<std::optional<PoolBytes>> body = in.take(40);
    ASSERT_TRUE(body.ok() && body->has_value()) << body.status();
    EXPECT_EQ(Str((*body)->span()), std::string(40, c));
  }
  EXPECT_FALSE(in.take(1)->has_value());
}

TYPED_TEST(BufferedSyncReaderTest, WouldBlockStopsAndResumesWithoutLosingBytes) {
  const std::string data = Joined(Heads());
  BufferedSyncReader in(ChunkReader<kReadBuf>(data, {3}, /*would_block_every=*/2),
                        MakeBufferedPolicy<TypeParam>(kSmall));
  size_t would_blocks = 0;
  for (const std::string& want : Heads()) {
    absl::StatusOr<BufferedMessage> head;
    do {
      head = in.read_until("\r\n\r\n", 1024);
      if (!head.ok()) {
        ASSERT_TRUE(IsWouldBlock(head.status())) << head.status();
        ++would_blocks;
      }
    } while (!head.ok());
    ASSERT_TRUE(head->has_value());
    EXPECT_EQ(Str(**head), want);
    in.consume((*head)->size());
  }
  EXPECT_GT(would_blocks, 5u);
}

TYPED_TEST(BufferedSyncReaderTest, EveryReadPathDeliversTheSameMessages) {
  const std::string data = Joined(Heads());
  {
    BufferedSyncReader in(ChunkReader<kReadSpan>(data, {5}), MakeBufferedPolicy<TypeParam>(kSmall));
    static_assert(decltype(in)::kPath == BufferedSyncReadPath::kReadSpan);
    static_assert(decltype(in)::kZeroes);
    ExpectHeads(in, "read(span)");
  }
  {
    BufferedSyncReader in(ChunkReader<kReadVectored>(data, {5}), MakeBufferedPolicy<TypeParam>(kSmall));
    static_assert(decltype(in)::kPath == BufferedSyncReadPath::kReadv);
    static_assert(decltype(in)::kZeroes == read_buf_traits<TypeParam>::kZeroesEveryRead);
    ExpectHeads(in, "readv");
  }
  {
    BufferedSyncReader in(ChunkReader<kReadBuf | kReadSpan | kReadVectored>(data, {5}),
                          MakeBufferedPolicy<TypeParam>(kSmall));
    static_assert(decltype(in)::kPath == BufferedSyncReadPath::kReadBuf);
    ExpectHeads(in, "read_buf preferred");
  }
  {
    ChunkReader<kReadBuf> borrowed(data, {5});
    BufferedSyncReader in(&borrowed, MakeBufferedPolicy<TypeParam>(kSmall));
    ExpectHeads(in, "borrowed");
    EXPECT_EQ(borrowed.offset(), data.size());
  }
}

// A TryReader only (non-blocking source).
class TryOnly {
 public:
  explicit TryOnly(std::string data) : inner_(std::move(data), {4}, 3) {}
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    return inner_.read_buf(b);
  }

 private:
  ChunkReader<kReadBuf> inner_;
};

TEST(BufferedSyncReaderPathTest, TryReadPath) {
  BufferedSyncReader in(TryOnly(Joined(Heads())), Uninit(64));
  static_assert(decltype(in)::kPath == BufferedSyncReadPath::kTryRead);
  for (const std::string& want : Heads()) {
    absl::StatusOr<BufferedMessage> head;
    do {
      head = in.read_until("\r\n\r\n", 1024);
    } while (!head.ok() && IsWouldBlock(head.status()));
    ASSERT_TRUE(head.ok() && head->has_value()) << head.status();
    EXPECT_EQ(Str(**head), want);
    in.consume((*head)->size());
  }
}

TEST(BufferedSyncReaderPooledTest, TakeOfTheRestIsZeroCopy) {
  BufferedSyncReader in(BufSource("HEAD\n" + std::string(100, 'b'), {}), Pooled());
  absl::StatusOr<BufferedMessage> head = in.read_until('\n', 64);
  ASSERT_TRUE(head.ok() && head->has_value());
  in.consume(5);
  const std::byte* body_in_block = in.buffer().data();
  absl::StatusOr<std::optional<PoolBytes>> body = in.take(100);
  ASSERT_TRUE(body.ok() && body->has_value());
  EXPECT_EQ((*body)->data(), body_in_block);
  EXPECT_EQ(in.stats().zero_copy_takes, 1u);
  EXPECT_EQ(in.stats().bytes_copied(), 0u);
}

TEST(BufferedSyncReaderPooledTest, CompactionAndGrowthCopyCounts) {
  // 40-byte messages through a 64-byte Pooled that may grow to 256: the
  // partial second message is compacted (copied once) each time.
  std::string data;
  for (int i = 0; i < 10; ++i) data += std::string(39, static_cast<char>('a' + i)) + "\n";
  BufferedSyncReader in(BufSource(data, {64}),
                        Pooled(Pooled::Options{.sizing = {.min = 64, .initial = 64, .max = 256}}));
  uint64_t expected_copied = 0;
  for (int i = 0; i < 10; ++i) {
    const BufferedStats before = in.stats();
    absl::StatusOr<BufferedMessage> m = in.read_until('\n', 64);
    ASSERT_TRUE(m.ok() && m->has_value()) << m.status();
    in.consume(40);
    const BufferedStats& after = in.stats();
    expected_copied += (after.bytes_compacted - before.bytes_compacted) +
                       (after.bytes_grown - before.bytes_grown);
  }
  EXPECT_GT(in.stats().compactions, 0u);
  EXPECT_EQ(in.stats().growths, 0u);  // a 40-byte message always fits in 64
  EXPECT_EQ(in.stats().bytes_copied(), expected_copied);
  EXPECT_LE(in.stats().bytes_compacted, 10u * 40u);
}

}  // namespace
}  // namespace readbuf
