// Tests for buf/vectored.h: segment order, iovecs for readv(2), and the
// per-segment watermark.
#include "buf/vectored.h"

#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "buf/read_buf.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

std::string Filled(const auto& buf) {
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  return out;
}

TEST(VectoredTest, SplitsCapacityEvenly) {
  Vectored<4> buf(4099);
  EXPECT_EQ(buf.segment_count(), 4u);
  EXPECT_EQ(buf.capacity(), 4099u);
  EXPECT_EQ(buf.unfilled().size(), 1024u);  // the first segment
}

TEST(VectoredTest, UnfilledIovecsFollowTheFillPoint) {
  Vectored<3> buf({4, 8, 16});
  std::array<iovec, 3> iov;
  ASSERT_EQ(buf.unfilled_iovecs(iov), 3u);
  EXPECT_EQ(iov[0].iov_len, 4u);
  EXPECT_EQ(iov[1].iov_len, 8u);
  EXPECT_EQ(iov[2].iov_len, 16u);
  buf.advance(6);  // all of segment 0, 2 bytes of segment 1
  ASSERT_EQ(buf.unfilled_iovecs(iov), 2u);
  EXPECT_EQ(iov[0].iov_len, 6u);
  EXPECT_EQ(iov[1].iov_len, 16u);
  // A short output array gets the first regions only.
  std::array<iovec, 1> one;
  ASSERT_EQ(buf.unfilled_iovecs(one), 1u);
  EXPECT_EQ(one[0].iov_len, 6u);
}

TEST(VectoredTest, ReadvFillsSegmentsInOrder) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string message = "header|body-of-the-message";
  ASSERT_EQ(::write(fds[1], message.data(), message.size()),
            static_cast<ssize_t>(message.size()));
  Vectored<2> buf({7, 64});
  std::array<iovec, 2> iov;
  const size_t count = buf.unfilled_iovecs(iov);
  const ssize_t n = ::readv(fds[0], iov.data(), static_cast<int>(count));
  ASSERT_EQ(n, static_cast<ssize_t>(message.size()));
  buf.advance(static_cast<size_t>(n));
  EXPECT_EQ(Filled(buf), message);
  const std::span<const std::byte> header = buf.filled_segment(0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(header.data()),
                        header.size()),
            "header|");
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(VectoredTest, ScalarReadersFillSegmentBySegment) {
  Vectored<2> buf({3, 5});
  // A scalar reader only ever sees unfilled(): the current segment.
  EXPECT_EQ(buf.unfilled().size(), 3u);
  buf.unfilled().write(std::as_bytes(std::span("abc", 3)));
  buf.advance(3);
  EXPECT_EQ(buf.unfilled().size(), 5u);
  buf.unfilled().write(std::as_bytes(std::span("defgh", 5)));
  buf.advance(5);
  EXPECT_TRUE(buf.unfilled().empty());
  EXPECT_EQ(Filled(buf), "abcdefgh");
}

TEST(VectoredTest, WatermarksArePerSegmentAndSurviveClear) {
  Vectored<2> buf({4, 4});
  append(buf, std::as_bytes(std::span("xyzw12", 6)));
  EXPECT_EQ(buf.initialized_size(), 6u);
  buf.clear();
  EXPECT_EQ(buf.initialized_size(), 6u);
  EXPECT_EQ(buf.filled_size(), 0u);
  EXPECT_EQ(buf.unfilled().size(), 4u);  // back to segment 0
  EXPECT_EQ(buf.initialize_unfilled().size(), 4u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);  // segment 0 was fully written already
  buf.advance(4);
  std::span<std::byte> second = buf.initialize_unfilled();
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(buf.zeroed_bytes(), 2u);  // only the 2 never-written bytes
  EXPECT_EQ(static_cast<char>(second[0]), '1');
  EXPECT_EQ(second[2], std::byte{0});
}

TEST(VectoredTest, ZeroSizedSegmentsAreSkipped) {
  DynamicVectored buf({0, 2, 0, 3});
  EXPECT_EQ(buf.segment_count(), 4u);
  EXPECT_EQ(buf.unfilled().size(), 2u);
  append(buf, std::as_bytes(std::span("hello", 5)));
  EXPECT_EQ(Filled(buf), "hello");
  EXPECT_TRUE(buf.unfilled().empty());
}

TEST(VectoredTest, DynamicFormTakesSegmentCountAtRunTime) {
  DynamicVectored buf(1000, 10);
  EXPECT_EQ(buf.segment_count(), 10u);
  EXPECT_EQ(buf.capacity(), 1000u);
  std::vector<iovec> iov(16);
  EXPECT_EQ(buf.unfilled_iovecs(iov), 10u);
}

#ifndef NDEBUG
TEST(VectoredDeathTest, AdvancePastCapacityIsACheckFailure) {
  Vectored<2> buf({2, 2});
  EXPECT_DEATH(buf.advance(5), "advance\\(5\\) past the unfilled space");
}
#else
TEST(VectoredTest, AdvancePastCapacityClampsInReleaseBuilds) {
  Vectored<2> buf({2, 2});
  buf.advance(5);
  EXPECT_EQ(buf.filled_size(), 4u);
  EXPECT_LE(buf.filled_size(), buf.initialized_size());
}
#endif

}  // namespace
}  // namespace readbuf
