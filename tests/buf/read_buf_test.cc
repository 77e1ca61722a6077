// Tests for buf/read_buf.h: the concepts, read_buf_traits defaults, and the
// generic helpers, instantiated with the minimal archetype.
#include "buf/read_buf.h"

#include <cstddef>
#include <span>
#include <vector>

#include "buf/dyn.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "tests/testing/read_buf_archetype.h"

namespace readbuf {
namespace {

using testing::MinimalReadBuf;

static_assert(ReadBuf<MinimalReadBuf>);
static_assert(!ContiguousReadBuf<MinimalReadBuf>);
static_assert(!VectoredReadBuf<MinimalReadBuf>);
static_assert(ContiguousReadBuf<Uninit> && !VectoredReadBuf<Uninit>);
static_assert(ContiguousReadBuf<Zeroed>);
static_assert(VectoredReadBuf<Vectored<3>> && !ContiguousReadBuf<Vectored<3>>);
static_assert(VectoredReadBuf<DynamicVectored>);
static_assert(VectoredReadBuf<Dyn> && VectoredReadBuf<DynRef>);

// Every hook has its documented default for a type that declares none.
static_assert(!read_buf_traits<MinimalReadBuf>::kDefersMemory);
static_assert(!read_buf_traits<MinimalReadBuf>::kZeroesEveryRead);
static_assert(!read_buf_traits<MinimalReadBuf>::kVectored);
static_assert(read_buf_traits<Zeroed>::kZeroesEveryRead);
static_assert(!read_buf_traits<Uninit>::kZeroesEveryRead);
static_assert(read_buf_traits<Vectored<2>>::kVectored);

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(ReadBufTraitsTest, DefaultHooksDoNothing) {
  MinimalReadBuf buf;
  EXPECT_TRUE(read_buf_traits<MinimalReadBuf>::prepare(buf, 100).ok());
  read_buf_traits<MinimalReadBuf>::release_idle(buf);
  read_buf_traits<MinimalReadBuf>::record_read(buf, 10, 100);
  EXPECT_EQ(buf.filled_size(), 0u);
  EXPECT_EQ(buf.initialized_size(), 0u);
  EXPECT_EQ(buf.capacity(), 64u);
}

TEST(ReadBufTest, AppendAndRemainingUseOnlyTheConcept) {
  MinimalReadBuf buf;
  const std::vector<std::byte> data = Bytes({1, 2, 3, 4, 5});
  EXPECT_EQ(append(buf, data), 5u);
  EXPECT_EQ(remaining(buf), 59u);
  EXPECT_EQ(buf.initialized_size(), 5u);
  ASSERT_EQ(buf.peek_filled_for_test().size(), 5u);
  EXPECT_EQ(buf.peek_filled_for_test()[4], std::byte{5});
}

TEST(ReadBufTest, AppendStopsWhenFull) {
  MinimalReadBuf buf;
  std::vector<std::byte> data(100, std::byte{7});
  EXPECT_EQ(append(buf, data), 64u);
  EXPECT_EQ(remaining(buf), 0u);
  EXPECT_EQ(append(buf, data), 0u);
}

TEST(ReadBufTest, ForEachFilledContiguous) {
  Uninit buf(16);
  append(buf, Bytes({9, 8, 7}));
  std::vector<std::byte> seen;
  int calls = 0;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    ++calls;
    seen.insert(seen.end(), s.begin(), s.end());
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, Bytes({9, 8, 7}));
}

TEST(ReadBufTest, ForEachFilledSkipsEmptyBuffer) {
  Uninit buf(16);
  int calls = 0;
  for_each_filled(buf, [&](std::span<const std::byte>) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ReadBufTest, ForEachFilledVectoredVisitsSegmentsInOrder) {
  Vectored<3> buf({2, 3, 4});
  append(buf, Bytes({1, 2, 3, 4, 5, 6}));
  std::vector<size_t> sizes;
  std::vector<std::byte> seen;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    sizes.push_back(s.size());
    seen.insert(seen.end(), s.begin(), s.end());
  });
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 3, 1}));
  EXPECT_EQ(seen, Bytes({1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace readbuf
