// -----------------------------------------------------------------------------
// File: io/stall_watchdog.h
// -----------------------------------------------------------------------------
//
// StallWatchdog measures how long each reactor core of a Runtime was unable
// to run its timers: a core stalled by a task that blocks its thread or
// spins without suspending. It runs one task per core that sleeps until a
// deadline every `period` (sleep_until on CLOCK_BOOTTIME) and records, per
// wake-up, how late it resumed (BootClock now minus the deadline). The
// largest lateness since Start() or the last Reset()/TakeMaxLateness() is
// kept; a wake-up that is overdue right now counts too, so a core that is
// stuck for good is reported while it is stuck, not only once it recovers.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<readbuf::StallWatchdog>> wd =
//       readbuf::StallWatchdog::Start(rt, absl::Milliseconds(5));
//   if (!wd.ok()) ...;
//   ...
//   absl::Duration worst = (*wd)->TakeMaxLateness();  // and start over
//
// Cost: every core wakes up once per `period` (a few microseconds of work
// each time: the clock and one pread of /proc/thread-self/schedstat), so an
// idle core never sleeps longer than `period`. Lateness includes the time the
// task waited in the core's run queue behind other ready tasks and the time
// the OS did not schedule the core's thread. TakeReading() also gives the
// lateness without the latter ("own" lateness): what the core's own work --
// its tasks running, or blocking its thread -- caused, as opposed to a
// machine with more runnable threads than CPUs.
//
// Thread safety: every member may be called from any thread. The values are
// relaxed atomics: a reading may miss a wake-up recorded at the same moment.

#ifndef READBUF_IO_STALL_WATCHDOG_H_
#define READBUF_IO_STALL_WATCHDOG_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "io/runtime.h"

namespace readbuf {

namespace io_internal {
struct StallWatchdogState;
}  // namespace io_internal

// StallWatchdog
//
// Owns the per-core watchdog tasks; destroying it cancels them.
class StallWatchdog {
 public:
  // The shortest period Start() accepts.
  static constexpr absl::Duration kMinPeriod = absl::Microseconds(100);

  // Spawns one watchdog task on each core of `rt` (rt.spawn_on(i, ...)),
  // each waking every `period`.
  // Errors: InvalidArgument if `period` is below kMinPeriod or infinite.
  // REQUIRES: `rt` outlives the returned object and is not shut down.
  static absl::StatusOr<std::unique_ptr<StallWatchdog>> Start(Runtime& rt,
                                                              absl::Duration period);

  // Cancels the tasks. Off a reactor core it waits up to one second for
  // them to finish, then returns anyway: a core that is stalled for good
  // does not block it (the task's state is shared, so a task cancelled
  // later touches nothing freed). On a reactor core it does not wait.
  ~StallWatchdog();

  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

  absl::Duration period() const { return period_; }

  // The largest lateness of any core since Start() or the last Reset() /
  // TakeMaxLateness(), including the lateness of a wake-up that is overdue
  // now. Zero if every wake-up was on time.
  absl::Duration max_lateness() const;

  // max_lateness(), and starts a new interval (as Reset()) in the same step,
  // so a wake-up recorded between a max_lateness() and a Reset() call is not
  // lost. An overdue wake-up counts in both intervals.
  absl::Duration TakeMaxLateness();

  // Both readings of the interval, and starts a new one (as TakeMaxLateness).
  struct Reading {
    // As max_lateness().
    absl::Duration max_lateness;
    // The largest lateness minus the time the core's thread waited for a
    // CPU while runnable (schedstat's run_delay since the previous wake-up),
    // exact to within one period. Equals max_lateness where schedstat is
    // unavailable, and for a wake-up that is overdue now.
    absl::Duration max_own_lateness;
  };
  Reading TakeReading();

  // Starts a new interval for max_lateness(). An overdue wake-up still
  // counts in the new interval, with its whole lateness.
  void Reset();

  // Wake-ups recorded by all cores since Start() (not reset by Reset()).
  std::uint64_t ticks() const;

 private:
  StallWatchdog(absl::Duration period, std::shared_ptr<io_internal::StallWatchdogState> state);

  absl::Duration period_;
  std::shared_ptr<io_internal::StallWatchdogState> state_;
  std::vector<JoinHandle<void>> tasks_;
};

}  // namespace readbuf

#endif  // READBUF_IO_STALL_WATCHDOG_H_
