#include "buf/pool_bytes.h"

#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "tests/testing/event.h"

namespace readbuf {
namespace {

using ::readbuf::testing::Event;


PoolBlock MustAcquire(BufferPool& pool, std::size_t size) {
  absl::StatusOr<PoolBlock> block = pool.Acquire(size);
  EXPECT_TRUE(block.ok()) << block.status();
  return block.ok() ? *std::move(block) : PoolBlock();
}

// A block holding `text` at its start, as a reader would leave it.
PoolBlock FilledBlock(BufferPool& pool, std::string_view text) {
  PoolBlock block = MustAcquire(pool, text.size());
  std::memcpy(block.data(), text.data(), text.size());
  return block;
}

std::string_view AsText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(PoolBytesTest, ViewsTheFilledPrefixWithoutCopying) {
  BufferPool pool;
  PoolBlock block = FilledBlock(pool, "hello, world");
  const std::byte* data = block.data();
  PoolBytes bytes(std::move(block), 5);
  EXPECT_EQ(bytes.data(), data);
  EXPECT_EQ(bytes.size(), 5u);
  EXPECT_FALSE(bytes.empty());
  EXPECT_EQ(AsText(bytes.span()), "hello");
}

TEST(PoolBytesTest, OffsetConstructorAndMutableSpan) {
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "hello, world"), 7, 5);
  EXPECT_EQ(AsText(bytes.span()), "world");
  bytes.mutable_span()[0] = std::byte{'W'};
  EXPECT_EQ(AsText(bytes.span()), "World");
}

TEST(PoolBytesTest, SliceIsZeroCopyAndKeepsTheBlock) {
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "GET /index.html"), 15);
  const std::byte* data = bytes.data();
  PoolBytes path = std::move(bytes).slice(4);
  EXPECT_TRUE(bytes.empty());
  EXPECT_EQ(path.data(), data + 4);
  EXPECT_EQ(AsText(path.span()), "/index.html");
  PoolBytes name = std::move(path).slice(1, 5);
  EXPECT_EQ(AsText(name.span()), "index");
  EXPECT_EQ(AsText(name.subspan(1, 3)), "nde");
  EXPECT_EQ(AsText(name.subspan(5)), "");
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
}

TEST(PoolBytesTest, RemovePrefixAndSuffix) {
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "[payload]"), 9);
  bytes.RemovePrefix(1);
  bytes.RemoveSuffix(1);
  EXPECT_EQ(AsText(bytes.span()), "payload");
  bytes.RemovePrefix(7);
  EXPECT_TRUE(bytes.empty());
}

TEST(PoolBytesTest, DestroyReturnsTheBlock) {
  BufferPool pool;
  {
    PoolBytes bytes(FilledBlock(pool, "abc"), 3);
    EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
  }
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.bytes_retained, 64u);
}

TEST(PoolBytesTest, MovedFromAndDefaultAreEmpty) {
  BufferPool pool;
  PoolBytes empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_TRUE(empty.span().empty());

  PoolBytes bytes(FilledBlock(pool, "xyz"), 3);
  PoolBytes moved = std::move(bytes);
  EXPECT_EQ(bytes.size(), 0u);
  EXPECT_EQ(bytes.data(), nullptr);
  EXPECT_EQ(AsText(moved.span()), "xyz");
  bytes = std::move(moved);  // A moved-from PoolBytes may be reused.
  EXPECT_EQ(AsText(bytes.span()), "xyz");
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
}

TEST(PoolBytesTest, OutOfRangeIsAlwaysFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "0123456789"), 10);
  EXPECT_DEATH((void)bytes.subspan(11), "outside size 10");
  EXPECT_DEATH((void)bytes.subspan(4, 7), "outside size 10");
  EXPECT_DEATH(bytes.RemovePrefix(11), "outside size 10");
  EXPECT_DEATH(PoolBytes(MustAcquire(pool, 64), 65),
               "outside block capacity 64");
  EXPECT_DEATH(PoolBytes(MustAcquire(pool, 64), 60, 5),
               "outside block capacity 64");
}

#ifndef NDEBUG
TEST(PoolBytesDeathTest, FromAnEmptyBlock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BufferPool pool;
  PoolBlock block = MustAcquire(pool, 64);
  PoolBlock taken = std::move(block);
  EXPECT_DEATH(PoolBytes(std::move(block), 0), "empty PoolBlock");
}
#endif

TEST(SharedPoolBytesTest, RefcountAndLastOwnerReturnsTheBlock) {
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "shared bytes"), 12);
  const std::byte* data = bytes.data();
  SharedPoolBytes a = std::move(bytes).Share();
  EXPECT_TRUE(bytes.empty());
  EXPECT_EQ(a.data(), data);
  EXPECT_EQ(a.use_count(), 1u);
  // Payload + control block.
  EXPECT_EQ(pool.Stats().blocks_in_use, 2u);
  {
    SharedPoolBytes b = a;
    SharedPoolBytes c = a.slice(7);
    EXPECT_EQ(a.use_count(), 3u);
    EXPECT_EQ(AsText(c.span()), "bytes");
    EXPECT_EQ(c.data(), data + 7);
    SharedPoolBytes d = std::move(b);
    EXPECT_EQ(b.use_count(), 0u);
    EXPECT_EQ(b.data(), nullptr);
    EXPECT_EQ(a.use_count(), 3u);
    d = c;  // Drops d's old reference, takes c's.
    EXPECT_EQ(a.use_count(), 3u);
    d = std::move(c);
    EXPECT_EQ(a.use_count(), 2u);
  }
  EXPECT_EQ(a.use_count(), 1u);
  EXPECT_EQ(pool.Stats().blocks_in_use, 2u);
  a = SharedPoolBytes();
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.bytes_in_use, 0u);
}

TEST(SharedPoolBytesTest, SliceOfSliceAndTrimming) {
  BufferPool pool;
  SharedPoolBytes all =
      PoolBytes(FilledBlock(pool, "key=value;"), 10).Share();
  SharedPoolBytes value = all.slice(4, 6);
  value.RemoveSuffix(1);
  EXPECT_EQ(AsText(value.span()), "value");
  EXPECT_EQ(AsText(value.slice(1).subspan(0, 3)), "alu");
  value.RemovePrefix(5);
  EXPECT_TRUE(value.empty());
  EXPECT_EQ(AsText(all.span()), "key=value;");
}

TEST(SharedPoolBytesTest, SharingNothingIsEmpty) {
  BufferPool pool;
  SharedPoolBytes none = PoolBytes().Share();
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.use_count(), 0u);
  SharedPoolBytes zero = PoolBytes(MustAcquire(pool, 64), 0).Share();
  EXPECT_TRUE(zero.empty());
  EXPECT_EQ(zero.use_count(), 0u);
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
}

TEST(SharedPoolBytesTest, ControlBlockComesFromThePoolAndIgnoresTheCap) {
  BufferPool::Options options;
  options.max_bytes_in_use = 4096;
  BufferPool pool(options);
  PoolBytes bytes(FilledBlock(pool, std::string(4096, 'x')), 4096);
  EXPECT_FALSE(pool.Acquire(64).ok());  // At the cap...
  SharedPoolBytes shared = std::move(bytes).Share();  // ...Share still works.
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 2u);
  EXPECT_EQ(stats.bytes_in_use, 4096u + 64u);
}

// Copies on several threads; the main thread drops its copy first, so the
// last reference is dropped on another thread and both blocks (payload and
// control) go back to the owner as cross-thread releases.
TEST(SharedPoolBytesTest, SharedAcrossThreadsLastOwnerReturnsTheBlock) {
  constexpr int kThreads = 4;
  BufferPool pool;
  const std::string text(3000, 'q');
  SharedPoolBytes shared = PoolBytes(FilledBlock(pool, text), 3000).Share();
  Event go;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&go, &text, t, copy = shared.slice(t)]() mutable {
      go.Wait();
      for (int i = 0; i < 100; ++i) {
        SharedPoolBytes more = copy.slice(i, 10);
        EXPECT_EQ(AsText(more.span()), std::string_view(text).substr(0, 10));
      }
      EXPECT_EQ(copy.size(), 3000u - static_cast<std::size_t>(t));
      copy = SharedPoolBytes();
    });
  }
  EXPECT_EQ(shared.use_count(), static_cast<std::size_t>(kThreads) + 1);
  shared = SharedPoolBytes();
  go.Notify();
  for (std::thread& thread : threads) thread.join();
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.cross_thread_releases, 2u);
}

TEST(SharedPoolBytesTest, ShareOnAnotherThreadUsesThatThreadsPool) {
  BufferPool pool;
  PoolBytes bytes(FilledBlock(pool, "moved away"), 10);
  std::thread thread([b = std::move(bytes)]() mutable {
    SharedPoolBytes shared = std::move(b).Share();
    EXPECT_EQ(AsText(shared.span()), "moved away");
    // The control block came from this thread's pool.
    EXPECT_EQ(BufferPool::ForThisThread().Stats().blocks_in_use, 1u);
  });
  thread.join();
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.cross_thread_releases, 1u);  // Only the payload was ours.
}

TEST(SharedPoolBytesTest, OutlivesItsPool) {
  auto pool = std::make_unique<BufferPool>();
  SharedPoolBytes shared =
      PoolBytes(FilledBlock(*pool, "still here"), 10).Share();
  pool.reset();
  SharedPoolBytes copy = shared;
  EXPECT_EQ(AsText(copy.span()), "still here");
  std::thread thread([c = std::move(copy)] {
    EXPECT_EQ(AsText(c.span()), "still here");
  });
  shared = SharedPoolBytes();
  thread.join();
}

TEST(SharedPoolBytesTest, OutOfRangeSliceIsAlwaysFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BufferPool pool;
  SharedPoolBytes shared = PoolBytes(FilledBlock(pool, "abc"), 3).Share();
  EXPECT_DEATH((void)shared.slice(4), "outside size 3");
  EXPECT_DEATH((void)shared.slice(1, 3), "outside size 3");
}

}  // namespace
}  // namespace readbuf
