// Tests for buf/adaptive_size.h: grow fast on full reads, shrink slowly.
#include "buf/adaptive_size.h"

#include "gtest/gtest.h"

namespace readbuf {
namespace {

TEST(AdaptiveReadSizeTest, StartsAtInitial) {
  AdaptiveReadSize size;
  EXPECT_EQ(size.next(), 8192u);
}

TEST(AdaptiveReadSizeTest, DoublesOnEveryFullReadUpToMax) {
  AdaptiveReadSize size;
  size.record(8192, 8192);
  EXPECT_EQ(size.next(), 16384u);
  for (int i = 0; i < 10; ++i) size.record(size.next(), size.next());
  EXPECT_EQ(size.next(), 128u * 1024);
}

TEST(AdaptiveReadSizeTest, HalvesOnlyAfterTwoSmallReadsInARow) {
  AdaptiveReadSize size;
  size.record(100, 8192);
  EXPECT_EQ(size.next(), 8192u);  // one small read: no change
  size.record(100, 8192);
  EXPECT_EQ(size.next(), 4096u);
  size.record(100, 4096);
  size.record(3000, 4096);  // a large-enough read resets the count
  size.record(100, 4096);
  EXPECT_EQ(size.next(), 4096u);
}

TEST(AdaptiveReadSizeTest, NeverGoesBelowMin) {
  AdaptiveReadSize size({.min = 1024, .initial = 2048, .max = 4096});
  for (int i = 0; i < 20; ++i) size.record(1, size.next());
  EXPECT_EQ(size.next(), 1024u);
}

TEST(AdaptiveReadSizeDeathTest, RejectsInconsistentLimits) {
  EXPECT_DEATH(AdaptiveReadSize({.min = 4096, .initial = 1024, .max = 8192}),
               "0 < min <= initial <= max");
}

}  // namespace
}  // namespace readbuf
