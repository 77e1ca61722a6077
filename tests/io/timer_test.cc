#include "io/timer.h"

#include <sys/utsname.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class TimerTest : public testing_io::BackendSuite<2> {};

Task<std::int64_t> SleepAndMeasure(absl::Duration d) {
  auto start = BootClock::now();
  co_await sleep_for(d);
  co_return (BootClock::now() - start).count();
}

TEST_P(TimerTest, SleepForWaitsAtLeastTheDuration) {
  Runtime rt(Options());
  absl::StatusOr<std::int64_t> ns =
      rt.block_on(SleepAndMeasure(absl::Milliseconds(20)));
  ASSERT_TRUE(ns.ok());
  EXPECT_GE(*ns, 20'000'000);
}

Task<bool> ThisCoreWaitsOnBoottime() {
  co_return io_internal::CurrentCore()->backend()->waits_on_boottime();
}

// Linux >= 6.12 (IORING_ENTER_ABS_TIMER with a registered CLOCK_BOOTTIME):
// the io_uring backend sleeps until the absolute boot-clock deadline, so a
// timer that falls due while the machine is suspended ends the wait at
// resume. epoll converts to a relative monotonic timeout.
TEST_P(TimerTest, UringWaitsOnTheBootClockItself) {
  Runtime rt(Options(1));
  absl::StatusOr<bool> boottime = rt.block_on(ThisCoreWaitsOnBoottime());
  ASSERT_TRUE(boottime.ok());
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  const bool kernel_has_abs_timer = major > 6 || (major == 6 && minor >= 12);
  if (std::string(rt.backend_name()) == "io_uring" && kernel_has_abs_timer) {
    EXPECT_TRUE(*boottime) << u.release;
  } else if (std::string(rt.backend_name()) == "epoll") {
    EXPECT_FALSE(*boottime);
  }
  // Either way the deadline is honoured.
  absl::StatusOr<std::int64_t> ns = rt.block_on(SleepAndMeasure(absl::Milliseconds(15)));
  ASSERT_TRUE(ns.ok());
  EXPECT_GE(*ns, 15'000'000);
}

TEST_P(TimerTest, NonPositiveSleepDoesNotSuspend) {
  Runtime rt(Options(1));
  absl::StatusOr<std::int64_t> ns = rt.block_on(SleepAndMeasure(-absl::Seconds(1)));
  ASSERT_TRUE(ns.ok());
  EXPECT_GE(*ns, 0);
}

Task<void> SleepUntil(BootClock::time_point t, std::vector<int>* order, int id) {
  co_await sleep_until(t);
  order->push_back(id);
}

Task<std::vector<int>> TimersFireInDeadlineOrder() {
  std::vector<int> order;
  // The base offset leaves time to start every task before the first
  // deadline (a task whose deadline has passed does not suspend at all).
  auto now = BootClock::now() + std::chrono::milliseconds(100);
  std::vector<JoinHandle<void>> hs;
  // Deadlines deliberately pushed out of order.
  const int offsets_ms[] = {30, 10, 50, 20, 40, 0, 60, 5};
  for (int i = 0; i < 8; ++i) {
    hs.push_back(spawn(SleepUntil(now + std::chrono::milliseconds(offsets_ms[i]),
                                  &order, offsets_ms[i])));
  }
  for (auto& h : hs) (void)co_await h;
  co_return order;
}

TEST_P(TimerTest, TimersFireInDeadlineOrder) {
  Runtime rt(Options(1));
  absl::StatusOr<std::vector<int>> order = rt.block_on(TimersFireInDeadlineOrder());
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, (std::vector<int>{0, 5, 10, 20, 30, 40, 50, 60}));
}

Task<int> Slow(std::atomic<bool>* destroyed_flag) {
  struct SetOnDestroy {
    std::atomic<bool>* f;
    ~SetOnDestroy() { f->store(true); }
  } guard{destroyed_flag};
  co_await sleep_for(absl::Seconds(30));
  co_return 1;
}

Task<int> Quick() {
  co_await sleep_for(absl::Milliseconds(1));
  co_return 7;
}

Task<absl::Status> TimeoutExpires(std::atomic<bool>* destroyed) {
  absl::StatusOr<int> r = co_await timeout(Slow(destroyed), absl::Milliseconds(10));
  co_return r.status();
}

TEST_P(TimerTest, TimeoutExpiresAndCancelsTheTask) {
  std::atomic<bool> destroyed{false};
  Runtime rt(Options());
  absl::Status s = rt.block_on(TimeoutExpires(&destroyed));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  // The child is destroyed promptly (not at shutdown): poll from outside.
  for (int i = 0; i < 2000 && !destroyed.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(destroyed.load());
}

Task<absl::StatusOr<int>> TimeoutSucceeds() {
  co_return co_await timeout(Quick(), absl::Seconds(10));
}

Task<void> SleepVoid(absl::Duration d) { co_await sleep_for(d); }
Task<absl::Status> SleepStatus(absl::Duration d) {
  co_await sleep_for(d);
  co_return absl::DataLossError("finished");
}

TEST_P(TimerTest, TimeoutWorksForVoidAndStatusTasks) {
  Runtime rt(Options(1));
  absl::StatusOr<absl::Status> void_late = rt.block_on([]() -> Task<absl::Status> {
    co_return co_await timeout(SleepVoid(absl::Seconds(10)), absl::Milliseconds(10));
  }());
  ASSERT_TRUE(void_late.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(*void_late)) << *void_late;
  absl::StatusOr<absl::Status> void_done = rt.block_on([]() -> Task<absl::Status> {
    co_return co_await timeout(SleepVoid(absl::Milliseconds(1)), absl::Seconds(10));
  }());
  ASSERT_TRUE(void_done.ok());
  EXPECT_TRUE(void_done->ok()) << *void_done;
  absl::StatusOr<absl::Status> status_done = rt.block_on([]() -> Task<absl::Status> {
    co_return co_await timeout(SleepStatus(absl::Milliseconds(1)), absl::Seconds(10));
  }());
  ASSERT_TRUE(status_done.ok());
  EXPECT_TRUE(absl::IsDataLoss(*status_done)) << *status_done;  // the task's own result
}

TEST_P(TimerTest, TimeoutReturnsTheResult) {
  Runtime rt(Options());
  absl::StatusOr<int> r = rt.block_on(TimeoutSucceeds());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 7);
}

Task<int> ManyTimers() {
  std::vector<JoinHandle<void>> hs;
  std::vector<int> order;
  auto now = BootClock::now() + std::chrono::milliseconds(300);
  for (int i = 0; i < 1000; ++i) {
    hs.push_back(spawn(SleepUntil(now + std::chrono::microseconds((i * 7919) % 5000),
                                  &order, (i * 7919) % 5000)));
  }
  for (auto& h : hs) (void)co_await h;
  for (std::size_t i = 1; i < order.size(); ++i) {
    if (order[i - 1] > order[i]) co_return -1;
  }
  co_return static_cast<int>(order.size());
}

TEST_P(TimerTest, ManyTimersStayOrdered) {
  Runtime rt(Options(1));
  absl::StatusOr<int> r = rt.block_on(ManyTimers());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1000);
}

Task<void> CancelledSleeper() { co_await sleep_for(absl::Hours(1)); }

TEST_P(TimerTest, CancelledSleepRemovesItsTimer) {
  Runtime rt(Options(1));
  for (int i = 0; i < 100; ++i) {
    JoinHandle<void> h = rt.spawn(CancelledSleeper());
    h.cancel();
    EXPECT_EQ(h.BlockingJoin().code(), absl::StatusCode::kCancelled);
  }
  // With the hour-long timers gone, a short sleep is not delayed by them and
  // the heap does not hold dangling nodes (ASan would catch those).
  absl::StatusOr<std::int64_t> ns = rt.block_on(SleepAndMeasure(absl::Milliseconds(1)));
  ASSERT_TRUE(ns.ok());
}

// The heap itself, deterministically: random pushes and removals always pop
// in deadline order.
TEST(TimerHeapTest, RandomPushRemovePopsInOrder) {
  std::mt19937 rng(42);
  std::vector<io_internal::TimerNode> nodes(2000);
  io_internal::TimerHeap heap;
  for (auto& n : nodes) {
    n.deadline_ns = static_cast<std::int64_t>(rng() % 1000);
    heap.Push(&n);
  }
  for (std::size_t i = 0; i < nodes.size(); i += 3) heap.Remove(&nodes[i]);
  for (std::size_t i = 0; i < nodes.size(); i += 3) {
    EXPECT_FALSE(nodes[i].armed());
  }
  std::int64_t last = -1;
  std::size_t popped = 0;
  while (io_internal::TimerNode* t = heap.Top()) {
    EXPECT_LE(last, t->deadline_ns);
    last = t->deadline_ns;
    heap.Remove(t);
    ++popped;
  }
  EXPECT_EQ(popped, nodes.size() - (nodes.size() + 2) / 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, TimerTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
