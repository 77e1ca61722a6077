// TrimThisCore(): after a burst, a core gives back its pool free lists and
// its cached coroutine frames.
#include "io/trim_memory.h"

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "io/internal/frame_allocator.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {
namespace {

Task<int> Child(int i) { co_return i; }

struct Observed {
  std::uint64_t cached_frames_before = 0;
  std::size_t retained_before = 0;
  TrimReport report;
  std::uint64_t cached_frames_after = 0;
  std::size_t retained_after = 0;
  std::size_t in_use_after = 0;
};

Task<Observed> BurstThenTrim() {
  Observed o;
  // A burst of tasks leaves their frames in the core's cache.
  std::vector<JoinHandle<int>> children;
  for (int i = 0; i < 500; ++i) children.push_back(spawn(Child(i)));
  for (auto& c : children) (void)co_await c;
  // A burst of pool blocks leaves them on the free lists; one stays in use.
  BufferPool& pool = BufferPool::ForThisThread();
  std::vector<PoolBlock> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(*pool.Acquire(16 * 1024));
  PoolBlock kept = std::move(blocks.back());
  blocks.pop_back();
  blocks.clear();
  o.cached_frames_before = io_internal::CurrentFrameCacheStats().cached_blocks;
  o.retained_before = pool.Stats().bytes_retained;
  o.report = TrimThisCore();
  o.cached_frames_after = io_internal::CurrentFrameCacheStats().cached_blocks;
  o.retained_after = pool.Stats().bytes_retained;
  o.in_use_after = pool.Stats().bytes_in_use;
  EXPECT_EQ(kept.capacity(), 16u * 1024);  // untouched
  co_return o;
}

TEST(TrimMemoryTest, GivesBackPoolFreeListsAndCachedFrames) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<Observed> o = rt.block_on(BurstThenTrim());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->retained_after, 0u);
  EXPECT_EQ(o->report.pool_bytes_released, o->retained_before);
  EXPECT_EQ(o->cached_frames_after, 0u);
  EXPECT_EQ(o->report.frame_blocks_released, o->cached_frames_before);
  EXPECT_GE(o->in_use_after, 16u * 1024);  // the block still held
#if !defined(READBUF_IO_SYSTEM_ALLOCATOR_TEST)
  EXPECT_GT(o->retained_before, 0u);
  EXPECT_GT(o->cached_frames_before, 0u);
#endif
}

}  // namespace
}  // namespace readbuf
