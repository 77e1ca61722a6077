#include "io/stall_watchdog.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/task.h"
#include "io/timer.h"

namespace readbuf {
namespace io_internal {

// One core's readings; written by that core's watchdog task, read anywhere.
struct alignas(64) StallWatchdogCore {
  // CLOCK_BOOTTIME ns of the wake-up the task waits for; 0 before the first.
  std::atomic<std::int64_t> deadline_ns{0};
  // Largest lateness recorded in the current interval.
  std::atomic<std::int64_t> max_late_ns{0};
  // Largest lateness minus the time the OS kept the thread waiting for a CPU
  // (see StallWatchdog::TakeReading).
  std::atomic<std::int64_t> max_own_late_ns{0};
  std::atomic<std::uint64_t> ticks{0};
};

// Shared by the StallWatchdog and its tasks, so a task that is cancelled
// after the StallWatchdog is gone still writes to live memory.
struct StallWatchdogState {
  explicit StallWatchdogState(int n) : n_cores(n), cores(new StallWatchdogCore[n]) {}
  const int n_cores;
  const std::unique_ptr<StallWatchdogCore[]> cores;
};

}  // namespace io_internal

namespace {

using io_internal::StallWatchdogCore;
using io_internal::StallWatchdogState;

std::int64_t NowNs() { return BootClock::now().time_since_epoch().count(); }

void RecordMax(std::atomic<std::int64_t>& max, std::int64_t v) {
  std::int64_t prev = max.load(std::memory_order_relaxed);
  while (v > prev && !max.compare_exchange_weak(prev, v, std::memory_order_relaxed)) {
  }
}

// How late the pending wake-up of `c` is at `now` (0 if not yet due).
std::int64_t OverdueNs(const StallWatchdogCore& c, std::int64_t now) {
  const std::int64_t deadline = c.deadline_ns.load(std::memory_order_relaxed);
  return deadline != 0 && now > deadline ? now - deadline : 0;
}

// The calling thread's schedstat: the time it spent runnable but waiting for
// a CPU (run_delay, ns) so far, read from `fd` (/proc/thread-self/schedstat
// opened by this thread). -1 when unavailable.
std::int64_t RunDelayNs(int fd) {
  if (fd < 0) return -1;
  char buf[96];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  unsigned long long on_cpu = 0, run_delay = 0;
  if (std::sscanf(buf, "%llu %llu", &on_cpu, &run_delay) != 2) return -1;
  return static_cast<std::int64_t>(run_delay);
}

// Core `core`'s watchdog: wakes every `period_ns` and records how late.
Task<void> WatchCore(std::shared_ptr<StallWatchdogState> state, int core,
                     std::int64_t period_ns) {
  StallWatchdogCore& c = state->cores[core];
  // Opened on the core's thread (a task never leaves its core), so it reads
  // that thread's figures.
  const int schedstat = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  absl::Cleanup close_schedstat = [schedstat] {
    if (schedstat >= 0) ::close(schedstat);
  };
  std::int64_t deadline = NowNs() + period_ns;
  std::int64_t run_delay = RunDelayNs(schedstat);
  for (;;) {
    c.deadline_ns.store(deadline, std::memory_order_relaxed);
    co_await sleep_until(BootClock::time_point(BootClock::duration(deadline)));
    const std::int64_t now = NowNs();
    const std::int64_t late = std::max<std::int64_t>(0, now - deadline);
    RecordMax(c.max_late_ns, late);
    // The OS's share: run-queue waiting since the previous wake-up (up to
    // one period of it may precede the deadline, so `own` is exact to
    // within one period). Without schedstat, all of it counts as our own.
    const std::int64_t delay_now = RunDelayNs(schedstat);
    const std::int64_t waited = run_delay >= 0 && delay_now >= run_delay ? delay_now - run_delay : 0;
    run_delay = delay_now;
    RecordMax(c.max_own_late_ns, std::max<std::int64_t>(0, late - waited));
    c.ticks.fetch_add(1, std::memory_order_relaxed);
    // Keep the schedule; after a stall, start again from now rather than
    // firing once for every period missed.
    deadline += period_ns;
    if (deadline <= now) deadline = now + period_ns;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<StallWatchdog>> StallWatchdog::Start(Runtime& rt,
                                                                    absl::Duration period) {
  if (period < kMinPeriod || period == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("StallWatchdog period ",
                                                   absl::FormatDuration(period), " is not in [",
                                                   absl::FormatDuration(kMinPeriod), ", inf)"));
  }
  auto state = std::make_shared<StallWatchdogState>(rt.n_cores());
  std::unique_ptr<StallWatchdog> wd(new StallWatchdog(period, state));
  const std::int64_t period_ns = absl::ToInt64Nanoseconds(period);
  wd->tasks_.reserve(static_cast<size_t>(rt.n_cores()));
  for (int core = 0; core < rt.n_cores(); ++core) {
    wd->tasks_.push_back(rt.spawn_on(core, WatchCore(state, core, period_ns)));
  }
  return wd;
}

StallWatchdog::StallWatchdog(absl::Duration period,
                             std::shared_ptr<io_internal::StallWatchdogState> state)
    : period_(period), state_(std::move(state)) {}

StallWatchdog::~StallWatchdog() {
  for (JoinHandle<void>& t : tasks_) t.cancel();
  if (current_core() >= 0) return;  // waiting here could block this core's own task
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (JoinHandle<void>& t : tasks_) {
    while (!t.done() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

absl::Duration StallWatchdog::max_lateness() const {
  const std::int64_t now = NowNs();
  std::int64_t worst = 0;
  for (int i = 0; i < state_->n_cores; ++i) {
    const StallWatchdogCore& c = state_->cores[i];
    worst = std::max({worst, c.max_late_ns.load(std::memory_order_relaxed), OverdueNs(c, now)});
  }
  return absl::Nanoseconds(worst);
}

StallWatchdog::Reading StallWatchdog::TakeReading() {
  const std::int64_t now = NowNs();
  std::int64_t worst = 0;
  std::int64_t worst_own = 0;
  for (int i = 0; i < state_->n_cores; ++i) {
    StallWatchdogCore& c = state_->cores[i];
    const std::int64_t overdue = OverdueNs(c, now);
    worst = std::max({worst, c.max_late_ns.exchange(0, std::memory_order_relaxed), overdue});
    // An overdue wake-up counts whole: why it is late is not known yet.
    worst_own = std::max({worst_own, c.max_own_late_ns.exchange(0, std::memory_order_relaxed),
                          overdue});
  }
  return Reading{absl::Nanoseconds(worst), absl::Nanoseconds(worst_own)};
}

absl::Duration StallWatchdog::TakeMaxLateness() {
  const std::int64_t now = NowNs();
  std::int64_t worst = 0;
  for (int i = 0; i < state_->n_cores; ++i) {
    StallWatchdogCore& c = state_->cores[i];
    worst = std::max({worst, c.max_late_ns.exchange(0, std::memory_order_relaxed),
                      OverdueNs(c, now)});
  }
  return absl::Nanoseconds(worst);
}

void StallWatchdog::Reset() {
  for (int i = 0; i < state_->n_cores; ++i) {
    state_->cores[i].max_late_ns.store(0, std::memory_order_relaxed);
    state_->cores[i].max_own_late_ns.store(0, std::memory_order_relaxed);
  }
}

std::uint64_t StallWatchdog::ticks() const {
  std::uint64_t n = 0;
  for (int i = 0; i < state_->n_cores; ++i) {
    n += state_->cores[i].ticks.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace readbuf
