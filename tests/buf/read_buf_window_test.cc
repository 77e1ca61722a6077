// Tests for buf/read_buf_window.h through its owning (Uninit, Zeroed) and
// borrowing (BorrowedReadBuf) users: zero-once, and misuse.
#include "buf/read_buf_window.h"

#include <array>
#include <cstddef>
#include <span>

#include "buf/borrowed_read_buf.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

TEST(ReadBufWindowTest, InitializeUnfilledZeroesEachByteOnce) {
  Uninit buf(1000);
  for (int round = 0; round < 10; ++round) {
    std::span<std::byte> region = buf.initialize_unfilled();
    ASSERT_EQ(region.size(), 1000u);
    buf.advance(100);  // a span reader wrote 100 bytes
    buf.clear();
  }
  EXPECT_EQ(buf.zeroed_bytes(), 1000u);  // not 10 x 1000
}

TEST(ReadBufWindowTest, DirectWritesNeedNoZeroing) {
  Uninit buf(1000);
  std::array<std::byte, 1000> data{};
  buf.unfilled().write(data);
  buf.advance(1000);
  buf.clear();
  buf.initialize_unfilled();
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(ReadBufWindowTest, ZeroedZeroesOnEveryPrepare) {
  Zeroed buf(256);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(read_buf_traits<Zeroed>::prepare(buf, 0).ok());
    std::span<std::byte> region = buf.initialize_unfilled();
    for (std::byte b : region) ASSERT_EQ(b, std::byte{0});
    std::fill(region.begin(), region.end(), std::byte{0xff});
    buf.advance(region.size());
    buf.clear();
  }
}

TEST(BorrowedReadBufTest, OverInitializedMemoryNeedsNoZeroing) {
  std::array<std::byte, 32> storage;
  storage.fill(std::byte{4});
  BorrowedReadBuf buf{std::span(storage)};
  EXPECT_EQ(buf.initialized_size(), 32u);
  EXPECT_EQ(buf.initialize_unfilled()[0], std::byte{4});
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
  buf.advance(3);
  EXPECT_EQ(buf.filled().data(), storage.data());
}

TEST(BorrowedReadBufTest, OverUninitializedMemoryTracksTheWatermark) {
  alignas(8) std::byte storage[32];
  BorrowedReadBuf buf{UninitSpan(storage, sizeof(storage))};
  EXPECT_EQ(buf.initialized_size(), 0u);
  buf.unfilled().write(std::as_bytes(std::span("ab", 2)));
  buf.advance(2);
  EXPECT_EQ(buf.initialized_size(), 2u);
  EXPECT_EQ(buf.filled().size(), 2u);
}

#ifndef NDEBUG
TEST(ReadBufWindowDeathTest, AdvancePastCapacityIsACheckFailure) {
  Uninit buf(8);
  buf.advance(5);
  EXPECT_DEATH(buf.advance(4), "advance\\(4\\) past the unfilled region");
}
#else
TEST(ReadBufWindowTest, AdvancePastCapacityClampsInReleaseBuilds) {
  Uninit buf(8);
  buf.advance(5);
  buf.advance(4);
  EXPECT_EQ(buf.filled_size(), 8u);
  EXPECT_EQ(buf.initialized_size(), 8u);
}
#endif

}  // namespace
}  // namespace readbuf
