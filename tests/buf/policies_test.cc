// One typed suite over every buffer policy (buf/zeroed.h, buf/uninit.h,
// buf/vectored.h, buf/dyn.h, buf/pooled.h): the ReadBuf contract, written once,
// plus a randomized state machine that checks the invariant after every step.
#include <cstddef>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

constexpr size_t kCapacity = 4096;

// Builds a policy with (about) kCapacity bytes, ready to be filled.
template <class P>
P MakeBuf() {
  if constexpr (std::is_same_v<P, Pooled>) {
    Pooled::Options options;
    options.sizing = {.min = kCapacity, .initial = kCapacity, .max = kCapacity};
    Pooled buf(options);
    EXPECT_TRUE(read_buf_traits<Pooled>::prepare(buf, kCapacity).ok());
    return buf;
  } else {
    return P(kCapacity);
  }
}

std::vector<std::byte> Collect(const auto& buf) {
  std::vector<std::byte> out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.insert(out.end(), s.begin(), s.end());
  });
  return out;
}

template <class P>
class PolicyTest : public ::testing::Test {};

using Policies = ::testing::Types<Zeroed, Uninit, Vectored<4>,
                                  DynamicVectored, Dyn, Pooled>;
TYPED_TEST_SUITE(PolicyTest, Policies);

TYPED_TEST(PolicyTest, StartsEmptyAndUninitialized) {
  TypeParam buf = MakeBuf<TypeParam>();
  EXPECT_EQ(buf.filled_size(), 0u);
  EXPECT_GE(buf.capacity(), kCapacity);
  EXPECT_LE(buf.initialized_size(), buf.capacity());
  EXPECT_TRUE(Collect(buf).empty());
  if constexpr (!read_buf_traits<TypeParam>::kZeroesEveryRead) {
    EXPECT_EQ(buf.initialized_size(), 0u);
  }
}

TYPED_TEST(PolicyTest, AdvanceDeliversWhatWasWritten) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> expected;
  for (int round = 0; round < 3; ++round) {
    UninitSpan dst = buf.unfilled();
    ASSERT_GE(dst.size(), 10u);
    std::vector<std::byte> chunk(10, static_cast<std::byte>(round + 1));
    EXPECT_EQ(dst.write(chunk), 10u);
    buf.advance(10);
    expected.insert(expected.end(), chunk.begin(), chunk.end());
  }
  EXPECT_EQ(buf.filled_size(), 30u);
  EXPECT_GE(buf.initialized_size(), 30u);
  EXPECT_EQ(Collect(buf), expected);
}

TYPED_TEST(PolicyTest, ClearKeepsTheWatermark) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> data(100, std::byte{0x5a});
  ASSERT_EQ(append(buf, data), 100u);
  const size_t initialized = buf.initialized_size();
  buf.clear();
  EXPECT_EQ(buf.filled_size(), 0u);
  EXPECT_EQ(buf.initialized_size(), initialized);
  EXPECT_TRUE(Collect(buf).empty());
}

TYPED_TEST(PolicyTest, InitializeUnfilledZeroesNeverWrittenBytesOnly) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> data(40, std::byte{0x11});
  ASSERT_EQ(append(buf, data), 40u);
  buf.clear();  // bytes 0..39 are initialized (0x11), filled is 0
  std::span<std::byte> region = buf.initialize_unfilled();
  ASSERT_FALSE(region.empty());
  // Previously written bytes are kept, not re-zeroed (for every policy:
  // Zeroed zeroes in its prepare() hook, not here).
  ASSERT_GE(region.size(), 40u);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(region[i], std::byte{0x11}) << i;
  for (size_t i = 40; i < region.size(); ++i) {
    ASSERT_EQ(region[i], std::byte{0}) << i;
  }
  // The whole unfilled region of (at least) the current segment is now
  // initialized; asking again zeroes nothing and returns the same bytes.
  std::span<std::byte> again = buf.initialize_unfilled();
  EXPECT_EQ(again.data(), region.data());
  EXPECT_EQ(again.size(), region.size());
}

TYPED_TEST(PolicyTest, PrepareHookMatchesThePolicy) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> data(64, std::byte{0x77});
  ASSERT_EQ(append(buf, data), 64u);
  buf.clear();
  ASSERT_TRUE(read_buf_traits<TypeParam>::prepare(buf, kCapacity).ok());
  std::span<std::byte> region = buf.initialize_unfilled();
  ASSERT_GE(region.size(), 64u);
  if constexpr (read_buf_traits<TypeParam>::kZeroesEveryRead) {
    EXPECT_EQ(region[0], std::byte{0});  // zeroed before every read
  } else {
    EXPECT_EQ(region[0], std::byte{0x77});  // not touched
  }
}

TYPED_TEST(PolicyTest, FillsToCapacityAndStops) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> data(buf.capacity() + 100, std::byte{3});
  EXPECT_EQ(append(buf, data), buf.capacity());
  EXPECT_EQ(remaining(buf), 0u);
  EXPECT_TRUE(buf.unfilled().empty());
  EXPECT_EQ(buf.initialized_size(), buf.capacity());
  EXPECT_EQ(Collect(buf).size(), buf.capacity());
}

TYPED_TEST(PolicyTest, MoveKeepsContents) {
  TypeParam buf = MakeBuf<TypeParam>();
  std::vector<std::byte> data(12, std::byte{9});
  append(buf, data);
  TypeParam moved(std::move(buf));
  EXPECT_EQ(Collect(moved), data);
}

// Thousands of random operations through the concept only; after each one:
// filled <= initialized <= capacity, and the filled bytes are exactly the
// bytes written since the last clear().
TYPED_TEST(PolicyTest, RandomOperationsKeepTheInvariant) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 20; ++trial) {
    TypeParam buf = MakeBuf<TypeParam>();
    std::vector<std::byte> model;
    size_t last_initialized = buf.initialized_size();
    for (int step = 0; step < 500; ++step) {
      switch (rng() % 5) {
        case 0:
        case 1: {  // write some bytes and advance
          UninitSpan dst = buf.unfilled();
          const size_t n = dst.empty() ? 0 : rng() % (dst.size() + 1);
          std::vector<std::byte> chunk(n);
          for (auto& b : chunk) b = static_cast<std::byte>(rng());
          dst.write(chunk);
          buf.advance(n);
          model.insert(model.end(), chunk.begin(), chunk.end());
          break;
        }
        case 2:
          buf.clear();
          model.clear();
          break;
        case 3: {
          const size_t unfilled = buf.unfilled().size();
          EXPECT_EQ(buf.initialize_unfilled().size(), unfilled);
          break;
        }
        case 4:
          ASSERT_TRUE(read_buf_traits<TypeParam>::prepare(buf, 0).ok());
          break;
      }
      ASSERT_LE(buf.filled_size(), buf.initialized_size());
      ASSERT_LE(buf.initialized_size(), buf.capacity());
      ASSERT_EQ(buf.filled_size(), model.size());
      // The watermark never goes down.
      ASSERT_GE(buf.initialized_size(), last_initialized);
      last_initialized = buf.initialized_size();
      ASSERT_EQ(Collect(buf), model) << "trial " << trial << " step " << step;
    }
  }
}

}  // namespace
}  // namespace readbuf
