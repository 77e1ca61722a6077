// -----------------------------------------------------------------------------
// File: io/timer.h
// -----------------------------------------------------------------------------
//
// Timers on CLOCK_BOOTTIME (keeps counting across suspend): sleep_for,
// sleep_until and timeout. Each core keeps its timers in a 4-ary heap; the
// earliest deadline becomes the timeout of the core's wait for events, so
// timers cost no syscalls of their own.
//
// Example:
//
//   co_await readbuf::sleep_for(absl::Milliseconds(10));
//   absl::StatusOr<size_t> n =
//       co_await readbuf::timeout(stream.read(buf), absl::Seconds(5));
//   if (absl::IsDeadlineExceeded(n.status())) ...
//
// All functions here must be awaited on a reactor core.

#ifndef READBUF_IO_TIMER_H_
#define READBUF_IO_TIMER_H_

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "io/internal/core.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {

// A std::chrono clock reading CLOCK_BOOTTIME.
struct BootClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<BootClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    return time_point(duration(io_internal::BootTimeNowNs()));
  }
};

// Suspends the calling task for at least `d` (no suspension if d <= 0).
inline io_internal::SleepAwaiter sleep_for(absl::Duration d) {
  return io_internal::SleepAwaiter(io_internal::BootTimeNowNs() +
                                   absl::ToInt64Nanoseconds(d));
}

// Suspends the calling task until `t` (no suspension if t is past).
inline io_internal::SleepAwaiter sleep_until(BootClock::time_point t) {
  return io_internal::SleepAwaiter(t.time_since_epoch().count());
}

namespace io_internal {
// The status of a JoinResult: itself for absl::Status (void and Status
// tasks), .status() for absl::StatusOr.
inline const absl::Status& StatusOfResult(const absl::Status& s) { return s; }
template <typename U>
const absl::Status& StatusOfResult(const absl::StatusOr<U>& s) {
  return s.status();
}
}  // namespace io_internal

// Runs `task` as a child on the current core and yields its result, or
// absl::DeadlineExceededError if it has not finished after `d`; the child is
// then cancelled (destroyed at its suspension point, releasing what it holds).
// JoinResult<T> is absl::StatusOr<T> (absl::Status for void).
template <typename T>
Task<JoinResult<T>> timeout(Task<T> task, absl::Duration d) {
  std::int64_t deadline =
      io_internal::BootTimeNowNs() + absl::ToInt64Nanoseconds(d);
  JoinHandle<T> h = spawn(std::move(task));
  JoinResult<T> r = co_await h.WaitUntil(deadline);
  if (absl::IsDeadlineExceeded(io_internal::StatusOfResult(r))) {
    if (!h.done()) {
      h.cancel();
      co_return r;
    }
    r = co_await h;  // finished at the deadline: keep the result
  }
  co_return r;
}

}  // namespace readbuf

#endif  // READBUF_IO_TIMER_H_
