// Tests for adapters/span_to_buf.h: zero-once through the watermark, the
// zero-free paths (readv, read_buf inner readers), capability forwarding,
// errors passed through unchanged, and the debug checks on a misbehaving
// inner reader.
#include "adapters/span_to_buf.h"

#include <sys/uio.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/counting_read_buf.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::CountingReadBuf;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

// Capabilities are forwarded by construction.
static_assert(BufReader<SpanToBufReader<FaultReader<kReadSpan>>>);
static_assert(SpanReader<SpanToBufReader<FaultReader<kReadSpan>>>);
static_assert(!VectoredReader<SpanToBufReader<FaultReader<kReadSpan>>>);
static_assert(VectoredReader<SpanToBufReader<FaultReader<kReadSpan | kReadVectored>>>);
static_assert(VectoredReader<SpanToBufReader<FaultReader<kReadSpan | kReadVectored>*>>);
static_assert(TryReader<SpanToBufReader<FaultReader<kReadSpan | kReadTry>>>);
static_assert(OwnedReader<SpanToBufReader<FaultReader<kReadSpan | kReadOwned>>>);
static_assert(!TryReader<SpanToBufReader<FaultReader<kReadSpan>>>);
static_assert(kReaderCapabilities<SpanToBufReader<FaultReader<kReadSpan | kReadVectored>>> ==
              (kReadSpan | kReadBuf | kReadVectored));
static_assert(SpanToBufReader<FaultReader<kReadSpan>>::kZeroes);
static_assert(!SpanToBufReader<FaultReader<kReadSpan | kReadVectored>>::kZeroes);
static_assert(SpanToBufReader<FaultReader<kReadSpan>>::kCopies == 0);

FaultOptions FullReads() {
  FaultOptions options;
  options.short_read_rate = 0;
  return options;
}

FaultOptions ShortReads(uint64_t seed) {
  FaultOptions options;
  options.seed = seed;
  options.short_read_rate = 0.9;
  return options;
}

// Reads everything through `reader` into `buf`, clearing between reads.
template <class R, class B>
std::string DrainReused(R& reader, B& buf) {
  std::string out;
  for (;;) {
    absl::StatusOr<size_t> n = reader.read_buf(buf);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) return out;
    for_each_filled(buf, [&](std::span<const std::byte> s) {
      out.append(reinterpret_cast<const char*>(s.data()), s.size());
    });
    buf.clear();
  }
}

TEST(SpanToBufTest, ZeroesEachByteAtMostOnceOverManyReads) {
  const std::string data = RandomBytes(50000, 1);
  SpanToBufReader reader(FaultReader<kReadSpan>(data, ShortReads(1)));
  CountingReadBuf buf(1024);
  EXPECT_EQ(DrainReused(reader, buf), data);
  EXPECT_EQ(buf.max_zero_count(), 1);
}

TEST(SpanToBufTest, UninitZeroedBytesNeverExceedCapacity) {
  const std::string data = RandomBytes(50000, 2);
  SpanToBufReader reader(FaultReader<kReadSpan>(data, ShortReads(2)));
  Uninit buf(4096);
  EXPECT_EQ(DrainReused(reader, buf), data);
  EXPECT_EQ(buf.zeroed_bytes(), 4096u);  // once, then never again
}

TEST(SpanToBufTest, VectoredZeroesEachSegmentOnce) {
  const std::string data = RandomBytes(50000, 3);
  SpanToBufReader reader(FaultReader<kReadSpan>(data, ShortReads(3)));
  Vectored<4> buf(4000);
  EXPECT_EQ(DrainReused(reader, buf), data);
  EXPECT_LE(buf.zeroed_bytes(), 4000u);
  EXPECT_GT(buf.zeroed_bytes(), 0u);
}

TEST(SpanToBufTest, ReadvInnerReaderZeroesNothingAndFillsAllSegments) {
  const std::string data = RandomBytes(4000, 4);
  SpanToBufReader reader(
      FaultReader<kReadSpan | kReadVectored>(data, FullReads()));
  Vectored<4> buf(4000);
  absl::StatusOr<size_t> n = reader.read_buf(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4000u);  // one readv over all four segments
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(SpanToBufTest, BufReaderInnerZeroesNothing) {
  const std::string data = RandomBytes(10000, 5);
  SpanToBufReader reader(FaultReader<kReadSpan | kReadBuf>(data, ShortReads(5)));
  Uninit buf(1000);
  EXPECT_EQ(DrainReused(reader, buf), data);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(SpanToBufTest, WorksThroughAnErasedBuffer) {
  const std::string data = RandomBytes(5000, 6);
  SpanToBufReader reader(FaultReader<kReadSpan>(data, ShortReads(6)));
  Vectored<3> storage(999);
  DynRef buf(storage);
  EXPECT_EQ(DrainReused(reader, buf), data);
}

TEST(SpanToBufTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 0;
  options.error = absl::ErrnoToStatus(ECONNRESET, "read(fd=5)");
  SpanToBufReader reader(FaultReader<kReadSpan>("abc", options));
  Uninit buf(16);
  EXPECT_EQ(reader.read_buf(buf).status(), options.error);
}

TEST(SpanToBufTest, FullBufferReadsNothingAndIsNotEof) {
  SpanToBufReader reader(FaultReader<kReadSpan>("abcdef", FaultOptions()));
  Uninit buf(3);
  buf.advance(3);
  absl::StatusOr<size_t> n = reader.read_buf(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(reader.inner().script().offset(), 0u);  // inner not called
}

TEST(SpanToBufTest, BorrowsAReaderByPointer) {
  FaultReader<kReadSpan> inner("hello", FullReads());
  SpanToBufReader reader(&inner);
  Uninit buf(16);
  ASSERT_EQ(*reader.read_buf(buf), 5u);
  EXPECT_EQ(inner.script().offset(), 5u);
}

#ifndef NDEBUG
struct OverReportingSpanReader {
  absl::StatusOr<size_t> read(std::span<std::byte> s) { return s.size() + 1; }
};

struct SwappingBufReader {
  absl::StatusOr<size_t> read(std::span<std::byte>) { return 0; }
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    if constexpr (std::is_move_assignable_v<B>) b = B(b.capacity());
    return 0;
  }
};

struct MisreportingBufReader {
  absl::StatusOr<size_t> read(std::span<std::byte>) { return 0; }
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    b.unfilled().write(std::as_bytes(std::span("abcd", 4)));
    b.advance(4);
    return 2;
  }
};

TEST(SpanToBufDeathTest, OverReportingInnerReaderIsCaught) {
  SpanToBufReader reader{OverReportingSpanReader()};
  Uninit buf(16);
  EXPECT_DEATH((void)reader.read_buf(buf), "reported 17 bytes for a 16-byte");
}

TEST(SpanToBufDeathTest, SwappedBufferIsCaught) {
  SpanToBufReader reader{SwappingBufReader()};
  Uninit buf(16);
  EXPECT_DEATH((void)reader.read_buf(buf), "swapped the buffer's memory");
}

TEST(SpanToBufDeathTest, MisreportedCountIsCaught) {
  SpanToBufReader reader{MisreportingBufReader()};
  Uninit buf(16);
  EXPECT_DEATH((void)reader.read_buf(buf),
               "reported 2 bytes but advanced the buffer by 4");
}
#endif

}  // namespace
}  // namespace readbuf
