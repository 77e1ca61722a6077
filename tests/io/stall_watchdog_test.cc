#include "io/stall_watchdog.h"

#include <chrono>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

// Generous: the CI machine has 2 cores and runs other tests at the same time.
constexpr absl::Duration kIdleBound = absl::Milliseconds(50);

class StallWatchdogTest : public testing_io::BackendSuite<2> {};

std::unique_ptr<StallWatchdog> StartOrDie(Runtime& rt, absl::Duration period) {
  absl::StatusOr<std::unique_ptr<StallWatchdog>> wd = StallWatchdog::Start(rt, period);
  EXPECT_TRUE(wd.ok()) << wd.status();
  return wd.ok() ? *std::move(wd) : nullptr;
}

// Blocks the thread of the core it runs on, as a task that never suspends.
Task<void> BlockThread(absl::Duration d) {
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
  co_return;
}

// Spins the core it runs on for `d`, reading the clock.
Task<void> Spin(absl::Duration d) {
  const absl::Time end = absl::Now() + d;
  while (absl::Now() < end) {
  }
  co_return;
}

TEST_P(StallWatchdogTest, IdleRuntimeIsOnTime) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Milliseconds(5));
  ASSERT_NE(wd, nullptr);
  EXPECT_EQ(wd->period(), absl::Milliseconds(5));
  absl::SleepFor(absl::Milliseconds(300));
  // 2 cores x 60 periods; a loaded machine may lose some.
  EXPECT_GE(wd->ticks(), 20u);
  EXPECT_LT(wd->max_lateness(), kIdleBound);
}

TEST_P(StallWatchdogTest, ReportsACoreBlockedBySleepingTask) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Milliseconds(5));
  ASSERT_NE(wd, nullptr);
  absl::SleepFor(absl::Milliseconds(20));
  wd->Reset();
  ASSERT_TRUE(rt.spawn_on(0, BlockThread(absl::Milliseconds(200))).BlockingJoin().ok());
  absl::SleepFor(absl::Milliseconds(20));  // the late wake-up runs
  EXPECT_GE(wd->max_lateness(), absl::Milliseconds(150));
  // Blocking the thread is the core's own doing, not the OS's: own lateness
  // counts it too.
  StallWatchdog::Reading r = wd->TakeReading();
  EXPECT_GE(r.max_lateness, absl::Milliseconds(150));
  EXPECT_GE(r.max_own_lateness, absl::Milliseconds(150));
  EXPECT_LE(r.max_own_lateness, r.max_lateness);
  // A new interval: back on time.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_LT(wd->max_lateness(), kIdleBound);
}

TEST_P(StallWatchdogTest, ReportsACoreBlockedBySpinningTask) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Milliseconds(5));
  ASSERT_NE(wd, nullptr);
  ASSERT_TRUE(rt.spawn_on(1, Spin(absl::Milliseconds(200))).BlockingJoin().ok());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_GE(wd->TakeMaxLateness(), absl::Milliseconds(150));
}

TEST_P(StallWatchdogTest, ReportsAStallWhileItLasts) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Milliseconds(5));
  ASSERT_NE(wd, nullptr);
  absl::SleepFor(absl::Milliseconds(20));
  wd->Reset();
  JoinHandle<void> blocker = rt.spawn_on(0, BlockThread(absl::Milliseconds(400)));
  absl::SleepFor(absl::Milliseconds(250));
  // The core is still blocked; its overdue wake-up counts already.
  EXPECT_GE(wd->max_lateness(), absl::Milliseconds(150));
  EXPECT_FALSE(blocker.done());
  ASSERT_TRUE(blocker.BlockingJoin().ok());
}

TEST_P(StallWatchdogTest, DestructorDoesNotWaitForABlockedCore) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Milliseconds(5));
  ASSERT_NE(wd, nullptr);
  absl::SleepFor(absl::Milliseconds(20));
  JoinHandle<void> blocker = rt.spawn_on(0, BlockThread(absl::Seconds(3)));
  absl::SleepFor(absl::Milliseconds(20));
  const absl::Time start = absl::Now();
  wd.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_TRUE(blocker.BlockingJoin().ok());
}

TEST_P(StallWatchdogTest, StopsCleanly) {
  Runtime rt(Options());
  std::unique_ptr<StallWatchdog> wd = StartOrDie(rt, absl::Microseconds(500));
  ASSERT_NE(wd, nullptr);
  absl::SleepFor(absl::Milliseconds(30));
  const absl::Time start = absl::Now();
  wd.reset();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  // The runtime still serves tasks afterwards.
  EXPECT_TRUE(rt.block_on(BlockThread(absl::Milliseconds(1))).ok());
}

TEST_P(StallWatchdogTest, RejectsAPeriodOutOfRange) {
  Runtime rt(Options());
  EXPECT_TRUE(absl::IsInvalidArgument(StallWatchdog::Start(rt, absl::ZeroDuration()).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(StallWatchdog::Start(rt, absl::Microseconds(50)).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(StallWatchdog::Start(rt, absl::InfiniteDuration()).status()));
}

INSTANTIATE_TEST_SUITE_P(Backends, StallWatchdogTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
