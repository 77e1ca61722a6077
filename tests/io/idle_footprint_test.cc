// The objects an idle coroutine connection keeps (BENCHMARKS.md section 4):
// a spawned task's state, its fd's readiness state, and, inside the
// connection's frame, the pending read_into and the Pooled buffer. Each must
// stay within the mimalloc size bin it was packed for (80, 48 and, with the
// frame, 224 bytes), or an idle Echo<Pooled> connection grows past 380 B.
// The sizes assume LP64 (x86-64 and AArch64 Linux).
#include <cstddef>

#include "buf/pooled.h"
#include "gtest/gtest.h"
#include "io/internal/fd_state.h"
#include "io/read_into.h"
#include "io/runtime.h"

namespace readbuf {
namespace {

static_assert(sizeof(void*) == 8, "the budgets below are for LP64");

TEST(IdleFootprintTest, TaskStateFitsTheEightyByteBin) {
  EXPECT_LE(sizeof(io_internal::TaskState<void>), 80u);
}

TEST(IdleFootprintTest, FdStateFitsTheFortyEightByteBin) {
  // 40 bytes without debug checks; the EAGAIN streak counters add 4.
  EXPECT_LE(sizeof(io_internal::FdState), 48u);
}

TEST(IdleFootprintTest, PendingReadIntoIsSixtyFourBytes) {
  EXPECT_LE(sizeof(io_internal::ReadIntoAwaiter<Pooled>), 64u);
}

TEST(IdleFootprintTest, PooledIsSeventyTwoBytes) {
  EXPECT_LE(sizeof(Pooled), 72u);
}

}  // namespace
}  // namespace readbuf
