// Tests for adapters/buf_to_span.h: a ReadBuf reader serving a span caller
// with no zeroing and no copy, forwarding, and the debug guard.
#include "adapters/buf_to_span.h"

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"

namespace readbuf {
namespace {

using ::readbuf::testing::DrainWithRead;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

static_assert(SpanReader<BufToSpanReader<FaultReader<kReadBuf>>>);
static_assert(BufReader<BufToSpanReader<FaultReader<kReadBuf>>>);
static_assert(!VectoredReader<BufToSpanReader<FaultReader<kReadBuf>>>);
static_assert(VectoredReader<BufToSpanReader<FaultReader<kReadBuf | kReadVectored>>>);
static_assert(TryReader<BufToSpanReader<FaultReader<kReadBuf | kReadTry>>>);
static_assert(BufToSpanReader<FaultReader<kReadBuf>>::kCopies == 0);
static_assert(!BufToSpanReader<FaultReader<kReadBuf>>::kZeroes);

// A ReadBuf reader that records where it was asked to write.
struct RecordingBufReader {
  const void* last_write = nullptr;
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    last_write = b.unfilled().write_ptr();
    return append(b, std::as_bytes(std::span("xyz", 3)));
  }
};

TEST(BufToSpanTest, InnerReaderWritesStraightIntoTheCallersSpan) {
  BufToSpanReader reader{RecordingBufReader()};
  std::array<std::byte, 8> storage{};
  absl::StatusOr<size_t> n = reader.read(storage);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(reader.inner().last_write, storage.data());  // no copy
  EXPECT_EQ(static_cast<char>(storage[0]), 'x');
}

TEST(BufToSpanTest, DrainsAFaultyReaderExactly) {
  const std::string data = RandomBytes(30000, 1);
  FaultOptions options;
  options.seed = 9;
  options.would_block_rate = 0.2;
  BufToSpanReader reader(FaultReader<kReadBuf>(data, options));
  testing::DrainResult result = DrainWithRead(reader, 333);
  EXPECT_TRUE(result.status.ok());
  EXPECT_TRUE(result.bytes == data);
}

TEST(BufToSpanTest, EmptySpanReadsNothing) {
  BufToSpanReader reader{RecordingBufReader()};
  EXPECT_EQ(*reader.read(std::span<std::byte>()), 0u);
  EXPECT_EQ(reader.inner().last_write, nullptr);
}

TEST(BufToSpanTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 2;
  options.error = absl::ErrnoToStatus(EPIPE, "read(fd=1)");
  options.short_read_rate = 0;
  BufToSpanReader reader(FaultReader<kReadBuf>("abcdef", options));
  std::array<std::byte, 8> storage;
  EXPECT_EQ(*reader.read(storage), 2u);
  EXPECT_EQ(reader.read(storage).status(), options.error);
}

#ifndef NDEBUG
struct OverAdvancingBufReader {
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    b.advance(4);
    return 1;
  }
};

TEST(BufToSpanDeathTest, MisreportedCountIsCaught) {
  BufToSpanReader reader{OverAdvancingBufReader()};
  std::array<std::byte, 8> storage{};
  EXPECT_DEATH((void)reader.read(storage),
               "reported 1 bytes but advanced the buffer by 4");
}
#endif

}  // namespace
}  // namespace readbuf
