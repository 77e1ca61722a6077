// Tests for adapters/vectored_to_scalar.h: the first *non-empty* segment is
// the default (not the first segment), raw regions are zeroed for a span
// reader and only written for a ReadBuf reader, forwarding.
#include "adapters/vectored_to_scalar.h"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "buf/read_buf.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;

static_assert(VectoredReader<VectoredToScalarReader<FaultReader<kReadSpan>>>);
static_assert(VectoredReader<VectoredToScalarReader<FaultReader<kReadBuf>>>);
static_assert(BufReader<VectoredToScalarReader<FaultReader<kReadSpan>>>);
static_assert(SpanReader<VectoredToScalarReader<FaultReader<kReadSpan>>>);
static_assert(!SpanReader<VectoredToScalarReader<FaultReader<kReadBuf>>>);
static_assert(OwnedReader<VectoredToScalarReader<FaultReader<kReadSpan | kReadOwned>>>);
static_assert(VectoredToScalarReader<FaultReader<kReadSpan>>::kZeroes);
static_assert(!VectoredToScalarReader<FaultReader<kReadBuf>>::kZeroes);

FaultOptions FullReads() {
  FaultOptions options;
  options.short_read_rate = 0;
  return options;
}

TEST(VectoredToScalarTest, ReadsIntoTheFirstNonEmptySegment) {
  VectoredToScalarReader reader(FaultReader<kReadSpan>("hello world", FullReads()));
  std::array<char, 4> body;
  std::array<char, 16> rest;
  char unused;
  const std::array<iovec, 3> iov = {iovec{&unused, 0}, iovec{body.data(), 4},
                                    iovec{rest.data(), 16}};
  absl::StatusOr<size_t> n = reader.readv(iov);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);  // one call: a short read, not an EOF
  EXPECT_EQ(std::string(body.data(), 4), "hell");
}

TEST(VectoredToScalarTest, AllEmptyRegionsReadNothing) {
  VectoredToScalarReader reader(FaultReader<kReadSpan>("abc", FullReads()));
  char c;
  const std::array<iovec, 2> iov = {iovec{&c, 0}, iovec{&c, 0}};
  EXPECT_EQ(*reader.readv(iov), 0u);
  EXPECT_EQ(reader.inner().script().offset(), 0u);
}

// A span reader that records whether the span it got was all zeros.
struct PeekingSpanReader {
  bool saw_zeros = false;
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    saw_zeros = true;
    for (std::byte b : s) saw_zeros = saw_zeros && b == std::byte{0};
    s[0] = std::byte{'z'};
    return 1;
  }
};

TEST(VectoredToScalarTest, SpanReaderGetsAZeroedRegionNeverStaleBytes) {
  VectoredToScalarReader reader{PeekingSpanReader()};
  std::array<char, 8> region;
  region.fill('!');  // stands for bytes the caller never initialized
  const std::array<iovec, 1> iov = {iovec{region.data(), region.size()}};
  ASSERT_EQ(*reader.readv(iov), 1u);
  EXPECT_TRUE(reader.inner().saw_zeros);
  EXPECT_EQ(region[0], 'z');
}

TEST(VectoredToScalarTest, ReadBufFillsTheFirstNonFullSegment) {
  VectoredToScalarReader reader(FaultReader<kReadSpan>("abcdefghij", FullReads()));
  Vectored<3> buf({2, 0, 8});
  ASSERT_EQ(*reader.read_buf(buf), 2u);  // first segment only
  ASSERT_EQ(*reader.read_buf(buf), 8u);  // skips the empty one
  EXPECT_EQ(buf.filled_size(), 10u);
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // full: nothing read
}

TEST(VectoredToScalarTest, ForwardsTheInnerReadvWhenThereIsOne) {
  VectoredToScalarReader reader(
      FaultReader<kReadSpan | kReadVectored>("abcdefgh", FullReads()));
  std::array<char, 4> a;
  std::array<char, 4> b;
  const std::array<iovec, 2> iov = {iovec{a.data(), 4}, iovec{b.data(), 4}};
  EXPECT_EQ(*reader.readv(iov), 8u);  // one readv over both
}

}  // namespace
}  // namespace readbuf
