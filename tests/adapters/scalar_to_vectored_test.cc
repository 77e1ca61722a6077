// Tests for adapters/scalar_to_vectored.h: segments filled in order in one
// call, stopping at a short read; readv used when the inner reader has it;
// an error after delivered bytes comes on the next call.
#include "adapters/scalar_to_vectored.h"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/read_buf.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;

static_assert(VectoredReader<ScalarToVectoredReader<FaultReader<kReadSpan>>>);
static_assert(BufReader<ScalarToVectoredReader<FaultReader<kReadSpan>>>);
static_assert(TryReader<ScalarToVectoredReader<FaultReader<kReadSpan | kReadTry>>>);
static_assert(!TryReader<ScalarToVectoredReader<FaultReader<kReadSpan>>>);

FaultOptions FullReads() {
  FaultOptions options;
  options.short_read_rate = 0;
  return options;
}

// A span reader that returns at most `chunk` bytes per call, counting calls.
struct ChunkReader {
  ChunkReader(std::string d, size_t c, absl::Status e = absl::OkStatus())
      : data(std::move(d)), chunk(c), error_after_data(std::move(e)) {}
  std::string data;
  size_t chunk;
  absl::Status error_after_data;
  size_t offset = 0;
  int calls = 0;
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    ++calls;
    if (offset == data.size() && !error_after_data.ok()) return error_after_data;
    const size_t n = std::min({chunk, s.size(), data.size() - offset});
    std::memcpy(s.data(), data.data() + offset, n);
    offset += n;
    return n;
  }
};

TEST(ScalarToVectoredTest, FillsSegmentsInOrderInOneCall) {
  ScalarToVectoredReader reader(ChunkReader("0123456789", 100));
  Vectored<3> buf({3, 3, 10});
  absl::StatusOr<size_t> n = reader.read_buf(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(reader.inner().calls, 3);  // 3 + 3 full, then a short 4
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  EXPECT_EQ(out, "0123456789");
}

TEST(ScalarToVectoredTest, StopsAtAShortRead) {
  ScalarToVectoredReader reader(ChunkReader("0123456789", 2));
  Vectored<2> buf({4, 4});
  EXPECT_EQ(*reader.read_buf(buf), 2u);
  EXPECT_EQ(reader.inner().calls, 1);
}

TEST(ScalarToVectoredTest, UsesOneReadvWhenTheInnerReaderHasIt) {
  ScalarToVectoredReader reader(
      FaultReader<kReadSpan | kReadVectored>("abcdefgh", FullReads()));
  Vectored<4> buf(8);
  EXPECT_EQ(*reader.read_buf(buf), 8u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);  // readv targets are only written
}

TEST(ScalarToVectoredTest, ErrorAfterDeliveredBytesComesNextCall) {
  const absl::Status error = absl::ErrnoToStatus(ECONNRESET, "read(fd=3)");
  ScalarToVectoredReader reader(ChunkReader("abcd", 100, error));
  Vectored<2> buf({4, 4});
  EXPECT_EQ(*reader.read_buf(buf), 4u);  // segment 1 full; segment 2 fails
  EXPECT_EQ(reader.read_buf(buf).status(), error);
}

TEST(ScalarToVectoredTest, WouldBlockAfterDeliveredBytesIsNotRemembered) {
  ScalarToVectoredReader reader(ChunkReader("abcd", 100, WouldBlockError()));
  Vectored<2> buf({4, 4});
  EXPECT_EQ(*reader.read_buf(buf), 4u);
  EXPECT_TRUE(IsWouldBlock(reader.read_buf(buf).status()));  // asked again
  EXPECT_EQ(reader.inner().calls, 3);
}

TEST(ScalarToVectoredTest, ReadvFillsRegionsInOrder) {
  ScalarToVectoredReader reader(ChunkReader("0123456789", 100));
  std::array<char, 3> a;
  std::array<char, 20> b;
  char empty;
  const std::array<iovec, 3> iov = {iovec{a.data(), 3}, iovec{&empty, 0},
                                    iovec{b.data(), 20}};
  EXPECT_EQ(*reader.readv(iov), 10u);
  EXPECT_EQ(std::string(a.data(), 3) + std::string(b.data(), 7), "0123456789");
}

}  // namespace
}  // namespace readbuf
