// Tests for buf/dyn.h: type erasure keeps every capability, the small-buffer
// optimisation, and moves.
#include "buf/dyn.h"

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

// Non-template code taking any buffer.
size_t FillWithPattern(DynRef buf, size_t n) {
  std::string pattern(n, 'p');
  return append(buf, std::as_bytes(std::span(pattern)));
}

std::string Filled(const auto& buf) {
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  return out;
}

TEST(DynRefTest, ViewsAContiguousBuffer) {
  Uninit buf(32);
  DynRef ref(buf);
  EXPECT_EQ(ref.capabilities(), kReadBufContiguous);
  EXPECT_EQ(FillWithPattern(ref, 5), 5u);
  EXPECT_EQ(buf.filled_size(), 5u);  // the view wrote through
  EXPECT_EQ(ref.filled().size(), 5u);
  EXPECT_EQ(ref.segment_count(), 1u);
}

TEST(DynRefTest, KeepsTheVectoredCapability) {
  Vectored<2> buf({3, 3});
  DynRef ref(buf);
  EXPECT_EQ(ref.capabilities(), kReadBufVectored);
  std::array<iovec, 4> iov;
  EXPECT_EQ(ref.unfilled_iovecs(iov), 2u);
  FillWithPattern(ref, 5);
  EXPECT_EQ(Filled(ref), "ppppp");
  EXPECT_EQ(ref.filled_segment(0).size(), 3u);
  EXPECT_EQ(ref.filled_segment(1).size(), 2u);
}

TEST(DynRefTest, ForwardsHooks) {
  Zeroed buf(16);
  DynRef ref(buf);
  EXPECT_EQ(ref.capabilities(), kReadBufContiguous | kReadBufZeroesEveryRead);
  FillWithPattern(ref, 16);
  ref.clear();
  ASSERT_TRUE(ref.prepare(0).ok());  // Zeroed zeroes
  EXPECT_EQ(ref.initialize_unfilled()[0], std::byte{0});
}

TEST(DynTest, DefaultsToInlineUninit) {
  Dyn buf(64);
  EXPECT_TRUE(buf.is_inline());
  EXPECT_EQ(buf.capacity(), 64u);
  EXPECT_EQ(buf.capabilities(), kReadBufContiguous);
  EXPECT_EQ(buf.initialized_size(), 0u);
}

TEST(DynTest, LargeBuffersGoToTheHeapAndStillWork) {
  Dyn buf(Vectored<8>(800));
  EXPECT_FALSE(buf.is_inline());
  EXPECT_EQ(buf.segment_count(), 8u);
  FillWithPattern(buf, 250);
  EXPECT_EQ(Filled(buf), std::string(250, 'p'));
}

TEST(DynTest, MovesInlineAndHeapBuffers) {
  Dyn small(Uninit(8));
  FillWithPattern(small, 3);
  Dyn moved_small(std::move(small));
  EXPECT_EQ(Filled(moved_small), "ppp");

  Dyn large(Vectored<8>(80));
  FillWithPattern(large, 20);
  Dyn moved_large(Uninit(4));
  moved_large = std::move(large);
  EXPECT_EQ(Filled(moved_large), std::string(20, 'p'));
}

#ifndef NDEBUG
TEST(DynDeathTest, ContiguousViewOfAVectoredBufferIsACheckFailure) {
  Vectored<2> buf({2, 2});
  DynRef ref(buf);
  EXPECT_DEATH((void)ref.filled(), "filled\\(\\) on an erased vectored buffer");
}
#endif

}  // namespace
}  // namespace readbuf
