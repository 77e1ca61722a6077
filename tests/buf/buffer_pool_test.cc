#include "buf/buffer_pool.h"

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/event.h"

#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
#include <mimalloc.h>
#endif

namespace readbuf {

// Reaches the pool's mimalloc heap.
class BufferPoolTestPeer {
 public:
  static void* Heap(BufferPool& pool) { return pool.core_->heap_; }
};

namespace {

using ::readbuf::testing::Event;


using ::testing::HasSubstr;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

PoolBlock MustAcquire(BufferPool& pool, std::size_t size) {
  absl::StatusOr<PoolBlock> block = pool.Acquire(size);
  EXPECT_TRUE(block.ok()) << block.status();
  return block.ok() ? *std::move(block) : PoolBlock();
}

// Runs `fn` on a new thread and waits for it.
template <typename Fn>
void OnOtherThread(Fn&& fn) {
  std::thread thread(std::forward<Fn>(fn));
  thread.join();
}

TEST(BufferPoolTest, CapacityIsTheSizeClass) {
  BufferPool pool;
  const std::pair<std::size_t, std::size_t> cases[] = {
      {0, 64},           {1, 64},           {64, 64},
      {65, 128},         {100, 128},        {4 * kKiB, 4 * kKiB},
      {4 * kKiB + 1, 8 * kKiB}, {kMiB - 1, kMiB}, {kMiB, kMiB},
  };
  for (const auto& [size, capacity] : cases) {
    PoolBlock block = MustAcquire(pool, size);
    ASSERT_FALSE(block.empty()) << size;
    EXPECT_EQ(block.capacity(), capacity) << size;
    EXPECT_EQ(block.span().size(), capacity) << size;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block.data()) %
                  alignof(std::max_align_t),
              0u);
    // The whole capacity is usable (ASan checks the bounds).
    std::memset(block.data(), 0xab, block.capacity());
  }
}

TEST(BufferPoolTest, LargeRequestsGetExactSizeAndAreNotRetained) {
  BufferPool pool;
  const std::size_t size = kMiB + 123;
  {
    PoolBlock block = MustAcquire(pool, size);
    EXPECT_EQ(block.capacity(), size);
    std::memset(block.data(), 1, block.capacity());
    EXPECT_EQ(pool.Stats().bytes_in_use, size);
  }
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.bytes_in_use, 0u);
  EXPECT_EQ(stats.bytes_retained, 0u);
  EXPECT_EQ(stats.misses, 1u);
  PoolBlock again = MustAcquire(pool, size);
  EXPECT_EQ(pool.Stats().misses, 2u);
}

TEST(BufferPoolTest, ReleaseThenAcquireSameClassHits) {
  BufferPool pool;
  std::byte* first = nullptr;
  {
    PoolBlock block = MustAcquire(pool, 100);
    first = block.data();
    BufferPoolStats stats = pool.Stats();
    EXPECT_EQ(stats.misses, 1u);
    EXPECT_EQ(stats.hits, 0u);
    EXPECT_EQ(stats.bytes_in_use, 128u);
    EXPECT_EQ(stats.blocks_in_use, 1u);
  }
  BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.bytes_in_use, 0u);
  EXPECT_EQ(stats.bytes_retained, 128u);
  EXPECT_EQ(stats.blocks_in_use, 0u);

  PoolBlock block = MustAcquire(pool, 120);  // Same class (128).
  EXPECT_EQ(block.data(), first);
  stats = pool.Stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.bytes_retained, 0u);

  PoolBlock other = MustAcquire(pool, 129);  // Next class: a miss.
  EXPECT_EQ(pool.Stats().misses, 2u);
}

TEST(BufferPoolTest, ExplicitReleaseAndMoveAssignmentReturnBlocks) {
  BufferPool pool;
  PoolBlock a = MustAcquire(pool, 64);
  PoolBlock b = MustAcquire(pool, 64);
  std::byte* b_data = b.data();
  a = std::move(b);  // Returns a's block.
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(a.data(), b_data);
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
  a.Release();
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(static_cast<bool>(a));
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.bytes_retained, 128u);
}

TEST(BufferPoolTest, RetentionIsBounded) {
  BufferPool::Options options;
  options.max_retained_bytes = 8 * kKiB;
  BufferPool pool(options);
  std::vector<PoolBlock> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(MustAcquire(pool, 4 * kKiB));
  blocks.clear();
  BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.bytes_retained, 8 * kKiB);
  EXPECT_EQ(stats.bytes_in_use, 0u);
  // Two come from the cache, the rest from the heap.
  for (int i = 0; i < 4; ++i) blocks.push_back(MustAcquire(pool, 4 * kKiB));
  stats = pool.Stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 6u);
}

TEST(BufferPoolTest, ZeroRetentionNeverCaches) {
  BufferPool::Options options;
  options.max_retained_bytes = 0;
  BufferPool pool(options);
  MustAcquire(pool, 64).Release();
  MustAcquire(pool, 64).Release();
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.bytes_retained, 0u);
}

TEST(BufferPoolTest, CapRejectsWithResourceExhaustedAndRecovers) {
  BufferPool::Options options;
  options.max_bytes_in_use = 8 * kKiB;
  BufferPool pool(options);
  PoolBlock a = MustAcquire(pool, 4 * kKiB);
  PoolBlock b = MustAcquire(pool, 3 * kKiB);  // 4 KiB class.
  absl::StatusOr<PoolBlock> c = pool.Acquire(1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(c.status().message(), HasSubstr("max_bytes_in_use"));
  EXPECT_THAT(c.status().message(), HasSubstr("8192"));
  EXPECT_EQ(pool.Stats().cap_rejections, 1u);

  // A retained block does not bypass the cap either.
  a.Release();
  PoolBlock d = MustAcquire(pool, 2 * kKiB);  // 6 KiB in use now.
  absl::StatusOr<PoolBlock> e = pool.Acquire(4 * kKiB);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.Stats().cap_rejections, 2u);

  d.Release();
  absl::StatusOr<PoolBlock> f = pool.Acquire(4 * kKiB);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(pool.Stats().hits, 1u);  // The block `a` gave back.
}

TEST(BufferPoolTest, CapCountsCrossThreadReleasesBeforeRejecting) {
  BufferPool::Options options;
  options.max_bytes_in_use = 4 * kKiB;
  BufferPool pool(options);
  PoolBlock block = MustAcquire(pool, 4 * kKiB);
  OnOtherThread([b = std::move(block)]() mutable { b.Release(); });
  absl::StatusOr<PoolBlock> again = pool.Acquire(4 * kKiB);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(pool.Stats().cap_rejections, 0u);
}

TEST(BufferPoolTest, CrossThreadReleaseReturnsToOwner) {
  BufferPool pool;
  PoolBlock block = MustAcquire(pool, 1000);
  std::byte* data = block.data();
  OnOtherThread([b = std::move(block)]() mutable { b.Release(); });

  BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.cross_thread_releases, 1u);
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.bytes_in_use, 0u);
  EXPECT_EQ(stats.bytes_retained, 1024u);

  PoolBlock reused = MustAcquire(pool, 1024);
  EXPECT_EQ(reused.data(), data);
  EXPECT_EQ(pool.Stats().hits, 1u);
}

TEST(BufferPoolTest, AcquireDrainsCrossThreadReleasesWhenTheListIsEmpty) {
  BufferPool pool;
  std::vector<PoolBlock> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(MustAcquire(pool, 256));
  OnOtherThread([bs = std::move(blocks)]() mutable { bs.clear(); });
  // No Stats() or Trim() in between: Acquire finds them itself.
  for (int i = 0; i < 8; ++i) blocks.push_back(MustAcquire(pool, 256));
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.misses, 8u);
  EXPECT_EQ(stats.hits, 8u);
  EXPECT_EQ(stats.cross_thread_releases, 8u);
}

TEST(BufferPoolTest, BlockFromAnotherThreadsPoolGoesBackToIt) {
  Event acquired;
  Event released;
  Event checked;
  PoolBlock block;
  BufferPoolStats owner_stats;
  std::thread owner([&] {
    BufferPool& pool = BufferPool::ForThisThread();
    block = MustAcquire(pool, 4 * kKiB);
    acquired.Notify();
    released.Wait();
    owner_stats = pool.Stats();
    checked.Notify();
  });
  acquired.Wait();
  block.Release();  // On the main thread.
  released.Notify();
  checked.Wait();
  owner.join();
  EXPECT_EQ(owner_stats.cross_thread_releases, 1u);
  EXPECT_EQ(owner_stats.blocks_in_use, 0u);
  EXPECT_EQ(owner_stats.bytes_retained, 4 * kKiB);
}

TEST(BufferPoolTest, ForThisThreadIsOnePoolPerThread) {
  BufferPool* main_pool = &BufferPool::ForThisThread();
  EXPECT_EQ(&BufferPool::ForThisThread(), main_pool);
  BufferPool* other_pool = nullptr;
  OnOtherThread([&] {
    other_pool = &BufferPool::ForThisThread();
    EXPECT_EQ(&BufferPool::ForThisThread(), other_pool);
    MustAcquire(*other_pool, 64).Release();
  });
  EXPECT_NE(other_pool, main_pool);
}

TEST(BufferPoolTest, BlockOutlivesItsPoolOnTheSameThread) {
  auto pool = std::make_unique<BufferPool>();
  PoolBlock small = MustAcquire(*pool, 64);
  PoolBlock large = MustAcquire(*pool, 2 * kMiB);
  MustAcquire(*pool, 64).Release();  // A retained block, freed by the pool.
  std::memset(small.data(), 7, small.capacity());
  pool.reset();
  // Still valid memory after the pool is gone.
  std::memset(small.data(), 8, small.capacity());
  std::memset(large.data(), 9, large.capacity());
  small.Release();
  large.Release();  // The last one also frees the pool's shared state.
}

TEST(BufferPoolTest, BlockOutlivesItsPoolOnAnotherThread) {
  auto pool = std::make_unique<BufferPool>();
  PoolBlock block = MustAcquire(*pool, 512);
  pool.reset();
  OnOtherThread([b = std::move(block)]() mutable {
    std::memset(b.data(), 1, b.capacity());
    b.Release();
  });
}

TEST(BufferPoolTest, ThreadExitDestroysItsPoolWhileBlocksLive) {
  PoolBlock block;
  OnOtherThread([&] { block = MustAcquire(BufferPool::ForThisThread(), 128); });
  // The thread and its pool are gone; the block is still usable.
  std::memset(block.data(), 3, block.capacity());
  block.Release();
}

// Releases race with the owner destroying the pool (run it under TSan).
TEST(BufferPoolTest, ReleasesRacingWithPoolDestructionAreSafe) {
  constexpr int kThreads = 4;
  constexpr int kBlocksPerThread = 200;
  for (int round = 0; round < 10; ++round) {
    auto pool = std::make_unique<BufferPool>();
    std::vector<std::vector<PoolBlock>> per_thread(kThreads);
    for (auto& blocks : per_thread) {
      for (int i = 0; i < kBlocksPerThread; ++i) {
        blocks.push_back(MustAcquire(*pool, 64 << (i % 4)));
      }
    }
    Event go;
    std::vector<std::thread> threads;
    for (auto& blocks : per_thread) {
      threads.emplace_back([&go, bs = std::move(blocks)]() mutable {
        go.Wait();
        while (!bs.empty()) bs.pop_back();
      });
    }
    go.Notify();
    pool.reset();
    for (std::thread& thread : threads) thread.join();
  }
}

// Many threads release into one owner that keeps acquiring (run under TSan).
TEST(BufferPoolTest, ConcurrentCrossThreadReleasesAllArrive) {
  constexpr int kThreads = 3;
  constexpr int kBlocksPerThread = 500;
  BufferPool pool;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::vector<PoolBlock> blocks;
    for (int i = 0; i < kBlocksPerThread; ++i) {
      blocks.push_back(MustAcquire(pool, 64 << (i % 3)));
    }
    threads.emplace_back([bs = std::move(blocks)]() mutable {
      for (PoolBlock& b : bs) {
        std::memset(b.data(), 0x5a, b.capacity());
        b.Release();
      }
    });
  }
  // The owner keeps using the pool meanwhile.
  for (int i = 0; i < 1000; ++i) MustAcquire(pool, 64 << (i % 3)).Release();
  for (std::thread& thread : threads) thread.join();
  const BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.blocks_in_use, 0u);
  EXPECT_EQ(stats.bytes_in_use, 0u);
  EXPECT_EQ(stats.cross_thread_releases,
            static_cast<std::uint64_t>(kThreads * kBlocksPerThread));
}

TEST(BufferPoolTest, TrimFreesRetainedBlocks) {
  BufferPool::Options options;
  options.max_retained_bytes = 64 * kMiB;
  BufferPool pool(options);
  std::vector<PoolBlock> blocks;
  for (int i = 0; i < 16; ++i) blocks.push_back(MustAcquire(pool, 64 * kKiB));
  blocks.clear();
  EXPECT_EQ(pool.Stats().bytes_retained, 16 * 64 * kKiB);
  pool.Trim();
  BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.bytes_retained, 0u);
  EXPECT_EQ(stats.trims, 1u);
  // The next acquire is a miss again.
  PoolBlock block = MustAcquire(pool, 64 * kKiB);
  EXPECT_EQ(pool.Stats().misses, 17u);
}

#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
std::size_t HeapUsedBytes(void* heap) {
  std::size_t used = 0;
  mi_heap_visit_blocks(
      static_cast<const mi_heap_t*>(heap), /*visit_all_blocks=*/false,
      [](const mi_heap_t*, const mi_heap_area_t* area, void* block,
         std::size_t, void* arg) {
        if (block == nullptr) {
          *static_cast<std::size_t*>(arg) += area->used * area->block_size;
        }
        return true;
      },
      &used);
  return used;
}
// Resident set size, from /proc/self/statm.
std::size_t ResidentBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int fields = std::fscanf(file, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(file);
  if (fields != 2) return 0;
  return resident_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}
#endif

TEST(BufferPoolTest, TrimReturnsBlocksToTheMimallocHeap) {
#ifdef READBUF_POOL_SYSTEM_ALLOCATOR
  GTEST_SKIP() << "system-allocator backend (sanitizer build): no mimalloc "
                  "heap to inspect";
#else
  BufferPool::Options options;
  options.max_retained_bytes = 64 * kMiB;
  BufferPool pool(options);
  void* heap = BufferPoolTestPeer::Heap(pool);
  std::vector<PoolBlock> blocks;
  for (int i = 0; i < 32; ++i) blocks.push_back(MustAcquire(pool, 16 * kKiB));
  blocks.clear();  // Retained: still allocated as far as mimalloc knows.
  EXPECT_GE(HeapUsedBytes(heap), 32 * 16 * kKiB);
  pool.Trim();
  EXPECT_EQ(HeapUsedBytes(heap), 0u);
#endif
}

TEST(BufferPoolTest, TrimGivesMemoryBackToTheOs) {
#ifdef READBUF_POOL_SYSTEM_ALLOCATOR
  GTEST_SKIP() << "system-allocator backend (sanitizer build): the "
                  "sanitizer's allocator quarantines freed memory, so RSS "
                  "does not show what Trim() returned";
#else
  ASSERT_GT(ResidentBytes(), 0u) << "cannot read /proc/self/statm";
  // mimalloc decommits free pages lazily (decommit_delay 25 ms and
  // segment_decommit_delay 500 ms by default) and only on later activity.
  // Turn the delays off for this test so the RSS drop is deterministic; what
  // is tested is that Trim() hands the retained blocks back to mimalloc.
  const long decommit_delay = mi_option_get(mi_option_decommit_delay);
  const long segment_delay = mi_option_get(mi_option_segment_decommit_delay);
  mi_option_set(mi_option_decommit_delay, 0);
  mi_option_set(mi_option_segment_decommit_delay, 0);

  constexpr std::size_t kBlocks = 48;
  BufferPool::Options options;
  options.max_retained_bytes = 256 * kMiB;
  BufferPool pool(options);
  for (std::size_t block_size : {kMiB, 16 * kKiB}) {
    std::vector<PoolBlock> blocks;
    const std::size_t count = kBlocks * kMiB / block_size;
    for (std::size_t i = 0; i < count; ++i) {
      blocks.push_back(MustAcquire(pool, block_size));
      std::memset(blocks.back().data(), 0x11, block_size);  // Resident.
    }
    blocks.clear();  // All retained by the pool.
    const std::size_t before = ResidentBytes();
    pool.Trim();
    const std::size_t after = ResidentBytes();
    // Tolerant of noise: at least half of what was retained must be gone.
    EXPECT_GE(before, after + kBlocks * kMiB / 2)
        << block_size << "-byte blocks: RSS before Trim " << before
        << ", after " << after;
  }
  mi_option_set(mi_option_decommit_delay, decommit_delay);
  mi_option_set(mi_option_segment_decommit_delay, segment_delay);
#endif
}

TEST(BufferPoolTest, TrimIfIdleTrimsOnlyAfterAQuietPeriod) {
  BufferPool::Options options;
  options.idle_trim_after = absl::Seconds(10);
  BufferPool pool(options);
  const absl::Time t0 = absl::FromUnixSeconds(1000);

  MustAcquire(pool, 4 * kKiB).Release();
  EXPECT_FALSE(pool.TrimIfIdle(t0));  // Sees the activity.
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(9)));
  EXPECT_EQ(pool.Stats().bytes_retained, 4 * kKiB);

  // Activity restarts the clock.
  MustAcquire(pool, 4 * kKiB).Release();
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(11)));
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(20)));
  EXPECT_TRUE(pool.TrimIfIdle(t0 + absl::Seconds(21)));
  BufferPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.bytes_retained, 0u);
  EXPECT_EQ(stats.trims, 1u);

  // Once per idle period.
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(100)));
  EXPECT_EQ(pool.Stats().trims, 1u);

  // A cross-thread release counts as activity too.
  PoolBlock block = MustAcquire(pool, 64);
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(200)));
  OnOtherThread([b = std::move(block)]() mutable { b.Release(); });
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(205)));
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Seconds(214)));
  EXPECT_TRUE(pool.TrimIfIdle(t0 + absl::Seconds(215)));
  EXPECT_EQ(pool.Stats().trims, 2u);
}

TEST(BufferPoolTest, TrimIfIdleCanBeDisabled) {
  BufferPool::Options options;
  options.idle_trim_after = absl::InfiniteDuration();
  BufferPool pool(options);
  MustAcquire(pool, 64).Release();
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(pool.TrimIfIdle(t0));
  EXPECT_FALSE(pool.TrimIfIdle(t0 + absl::Hours(1000)));
  EXPECT_EQ(pool.Stats().bytes_retained, 64u);
}

// With zero_on_release a re-acquired cached block is all zeros: reading it
// is well-defined because the release initialised every byte.
TEST(BufferPoolTest, ZeroOnReleaseClearsSecrets) {
  BufferPool::Options options;
  options.zero_on_release = true;
  BufferPool pool(options);
  for (std::size_t size : {std::size_t{64}, 4 * kKiB, 64 * kKiB}) {
    std::byte* first = nullptr;
    {
      PoolBlock block = MustAcquire(pool, size);
      first = block.data();
      std::memset(block.data(), 0x5e, block.capacity());  // The "secret".
    }
    PoolBlock block = MustAcquire(pool, size);
    ASSERT_EQ(block.data(), first) << "expected the cached block back";
    const std::span<std::byte> bytes = block.span();
    EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(),
                            [](std::byte b) { return b == std::byte{0}; }))
        << size;
  }
}

TEST(BufferPoolTest, ZeroOnReleaseAlsoOnCrossThreadRelease) {
  BufferPool::Options options;
  options.zero_on_release = true;
  BufferPool pool(options);
  PoolBlock block = MustAcquire(pool, 2 * kKiB);
  std::byte* first = block.data();
  std::memset(block.data(), 0x77, block.capacity());
  OnOtherThread([b = std::move(block)]() mutable { b.Release(); });
  PoolBlock again = MustAcquire(pool, 2 * kKiB);
  ASSERT_EQ(again.data(), first);
  const std::span<std::byte> bytes = again.span();
  EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(),
                          [](std::byte b) { return b == std::byte{0}; }));
}

TEST(BufferPoolTest, EmptyHandleIsSafeToDestroyAndMove) {
  PoolBlock empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.capacity(), 0u);
  PoolBlock moved(std::move(empty));
  EXPECT_TRUE(moved.empty());
}

#ifdef NDEBUG
TEST(BufferPoolDeathTest, MisuseChecksNeedADebugBuild) {
  GTEST_SKIP() << "READBUF_DCHECK is off under NDEBUG";
}
#else
class BufferPoolDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(BufferPoolDeathTest, DataAfterMove) {
  BufferPool pool;
  PoolBlock block = MustAcquire(pool, 64);
  PoolBlock other = std::move(block);
  EXPECT_DEATH((void)block.data(), "PoolBlock::data\\(\\) on an empty handle");
  EXPECT_DEATH((void)block.span(), "PoolBlock::span\\(\\) on an empty handle");
}

TEST_F(BufferPoolDeathTest, DoubleRelease) {
  BufferPool pool;
  PoolBlock block = MustAcquire(pool, 64);
  block.Release();
  EXPECT_DEATH(block.Release(), "Release\\(\\) on an empty handle");
  EXPECT_DEATH((void)block.data(), "on an empty handle");
}

TEST_F(BufferPoolDeathTest, AcquireOffTheOwnerThread) {
  BufferPool pool;
  EXPECT_DEATH(OnOtherThread([&] { (void)pool.Acquire(64); }),
               "does not own the pool");
}

TEST_F(BufferPoolDeathTest, TrimOffTheOwnerThread) {
  BufferPool pool;
  EXPECT_DEATH(OnOtherThread([&] { pool.Trim(); }), "does not own the pool");
}
#endif  // NDEBUG

#ifdef READBUF_POOL_HAVE_ASAN
TEST(BufferPoolAsanTest, UseAfterReleaseIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BufferPool pool;
  PoolBlock block = MustAcquire(pool, 256);
  volatile std::byte* stale = block.data();
  block.Release();  // Retained and poisoned.
  EXPECT_DEATH(stale[100] = std::byte{1}, "use-after-poison");
  // Re-acquiring unpoisons it.
  PoolBlock again = MustAcquire(pool, 256);
  ASSERT_EQ(again.data(), stale);
  std::memset(again.data(), 1, again.capacity());
}
#endif

}  // namespace
}  // namespace readbuf
