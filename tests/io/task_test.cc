#include "io/task.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "io/internal/frame_allocator.h"
#include "io/runtime.h"

namespace readbuf {
namespace {

Task<int> Add(int a, int b) { co_return a + b; }

Task<int> Chain(int depth) {
  if (depth == 0) co_return 0;
  int below = co_await Chain(depth - 1);
  co_return below + 1;
}

Task<std::string> Concat(std::string a) {
  std::string b = std::to_string(co_await Add(20, 22));
  co_return a + b;
}

Task<void> SetFlag(bool* flag) {
  *flag = true;
  co_return;
}

Task<int> AwaitTwice() {
  Task<int> t = Add(1, 2);
  int a = co_await std::move(t);
  int b = co_await std::move(t);  // the same Task again: a CHECK failure
  co_return a + b;
}

// Moves the Task being awaited, from inside its own body (so while the
// await is in progress): a CHECK failure.
Task<int> MovesItsAwaitedTask(Task<int>** awaited) {
  Task<int> stolen = std::move(**awaited);
  co_return 1;
}

Task<int> AwaitATaskThatMoves() {
  Task<int>* self = nullptr;
  Task<int> t = MovesItsAwaitedTask(&self);
  self = &t;
  // Awaited as an lvalue, so `t` itself is the awaiter with every compiler
  // (for `co_await std::move(t)` GCC 12 awaits a moved-into temporary).
  co_return co_await t;
}

TEST(TaskTest, LazyUntilAwaited) {
  bool flag = false;
  Runtime rt(RuntimeOptions{.n_cores = 1});
  {
    Task<void> t = SetFlag(&flag);
    EXPECT_TRUE(t.valid());
    EXPECT_FALSE(flag);
  }  // destroyed unstarted: the body never runs
  EXPECT_FALSE(flag);
  ASSERT_TRUE(rt.block_on(SetFlag(&flag)).ok());
  EXPECT_TRUE(flag);
}

TEST(TaskTest, ValuesPropagate) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<std::string> r = rt.block_on(Concat("answer="));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "answer=42");
}

TEST(TaskTest, DeepChainDoesNotOverflowStack) {
  // 100k nested awaits: symmetric transfer, or (where the compiler does not
  // make it a tail call, as under sanitizers) a bounce through Core::Resume.
  constexpr int kDepth = 100000;
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<int> r = rt.block_on(Chain(kDepth));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kDepth);
}

Task<int> Sync(int i) { co_return i; }

Task<long> LoopOfSynchronousAwaits(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await Sync(i);
  co_return sum;
}

TEST(TaskTest, LoopOfSynchronousAwaitsHasBoundedStack) {
  // Each awaited Task completes without suspending; a million of them in a
  // loop must not grow the stack, whatever the compiler does with tail calls.
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<long> r = rt.block_on(LoopOfSynchronousAwaits(1000000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 999999L * 1000000L / 2);
}

TEST(TaskTest, MoveOnly) {
  Task<int> a = Add(1, 2);
  Task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.valid());
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<int> r = rt.block_on(std::move(b));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

Task<io_internal::FrameCacheStats> CacheStatsAfterChurn() {
  // Frames kept in a vector escape, so no compiler can elide their
  // allocation (clang's HALO does for a directly awaited temporary).
  for (int round = 0; round < 2; ++round) {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 100; ++i) tasks.push_back(Add(i, i));
    for (Task<int>& t : tasks) (void)co_await std::move(t);
  }
  co_return io_internal::CurrentFrameCacheStats();
}

TEST(TaskTest, FramesReuseCoreFreelist) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<io_internal::FrameCacheStats> s =
      rt.block_on(CacheStatsAfterChurn());
  ASSERT_TRUE(s.ok());
#ifdef READBUF_IO_SYSTEM_ALLOCATOR_TEST
  EXPECT_EQ(s->cache_hits, 0u);
#else
  // Off-core there is no cache at all.
  EXPECT_EQ(io_internal::CurrentFrameCacheStats().cache_hits, 0u);
  // The second round's 100 frames of one size class come from the freelist
  // filled by the first round.
  EXPECT_GE(s->cache_hits, 100u);
#endif
}

TEST(TaskDeathTest, AwaitingATaskTwiceFails) {
  EXPECT_DEATH(
      {
        Runtime rt(RuntimeOptions{.n_cores = 1});
        (void)rt.block_on(AwaitTwice());
      },
      "awaited before");
}

TEST(TaskDeathTest, MovingATaskWhileItIsAwaitedFails) {
  EXPECT_DEATH(
      {
        Runtime rt(RuntimeOptions{.n_cores = 1});
        (void)rt.block_on(AwaitATaskThatMoves());
      },
      "moved while it is awaited");
}

TEST(TaskTest, AFinishedTaskMovesFreely) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::StatusOr<int> r = rt.block_on([]() -> Task<int> {
    std::vector<Task<int>> tasks;
    tasks.push_back(Add(1, 2));
    Task<int>& first = tasks[0];
    int a = co_await first;  // the Task in the vector is the awaiter
    // The awaited Task is finished: moving it (a vector growing) is fine.
    for (int i = 0; i < 8; ++i) tasks.push_back(Add(i, 0));
    EXPECT_TRUE(tasks[0].valid());
    int b = co_await std::move(tasks.back());
    co_return a + b;
  }());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 10);
}

}  // namespace
}  // namespace readbuf
