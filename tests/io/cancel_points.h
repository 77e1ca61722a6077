// Cancellation at every suspension point.
//
// ExploreCancellation runs a scenario again and again; in run k it cancels
// the scenario at its k-th suspension (k = 1, 2, ...), until a run completes
// before reaching k. It cancels either through JoinHandle::cancel() (the
// scenario is its own task) or through timeout() (the scenario runs inside
// the driver task, and the timeout is expired at that point). A core's
// suspend observer (Core::set_suspend_observer) counts the suspensions, so
// the cancel lands exactly at the chosen point.
//
// After every run it checks what cancellation promises: the process's fd
// count, the core's BufferPool bytes in use and its live coroutine frames are
// back at their baseline, and the cancelled run reports Cancelled (or
// DeadlineExceeded) while the uncancelled one returns OK. A CHECK failure
// aborts the test; ASan/LSan (--config=asan) catch use-after-free and leaks.

#ifndef READBUF_TESTS_IO_CANCEL_POINTS_H_
#define READBUF_TESTS_IO_CANCEL_POINTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "io/internal/core.h"
#include "io/internal/frame_allocator.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace testing_io {

enum class CancelVia { kJoinHandle, kTimeout };

inline const char* CancelViaName(CancelVia v) {
  return v == CancelVia::kJoinHandle ? "cancel" : "timeout";
}

// One run of a scenario. `task` runs on core 0. `after` runs on the test's
// thread once the task has ended, cancelled or not: it joins peer threads and
// closes what the peer side held, and may report failures with ADD_FAILURE.
struct ScenarioRun {
  Task<absl::Status> task;
  std::function<void()> after;
};

struct CancelExploration {
  int points = 0;          // suspension points of the run that completed
  int cancelled_runs = 0;  // runs cancelled, one per point
  std::string failure;     // the first check that failed; empty if none
};

namespace cancel_points_internal {

struct Observer {
  io_internal::TaskStateBase* target = nullptr;
  int cancel_at = 0;  // 0: never
  int seen = 0;
  bool fired = false;
  std::function<void()> cancel;
};

inline void Observe(io_internal::TaskStateBase* task, void* ctx) {
  auto* o = static_cast<Observer*>(ctx);
  if (task != o->target || o->fired) return;
  if (++o->seen == o->cancel_at) {
    o->fired = true;
    o->cancel();
  }
}

struct RunOutcome {
  absl::Status status;
  bool cancelled = false;
  int suspensions = 0;
  std::int64_t frames_leaked = 0;
  std::int64_t pool_bytes_leaked = 0;
};

inline std::int64_t LiveFrames() {
  io_internal::FrameCacheStats s = io_internal::CurrentFrameCacheStats();
  return static_cast<std::int64_t>(s.frames_allocated) - static_cast<std::int64_t>(s.frames_freed);
}

inline std::int64_t PoolBytesInUse() {
  return static_cast<std::int64_t>(BufferPool::ForThisThread().Stats().bytes_in_use);
}

inline Task<RunOutcome> DriveOnce(CancelVia via, int cancel_at,
                                  const std::function<ScenarioRun()>* make,
                                  std::function<void()>* after) {
  io_internal::Core* core = io_internal::CurrentCore();
  const std::int64_t frames0 = LiveFrames();
  const std::int64_t pool0 = PoolBytesInUse();
  RunOutcome out;
  {
    ScenarioRun run = (*make)();
    *after = std::move(run.after);
    Observer o;
    o.cancel_at = cancel_at;
    if (via == CancelVia::kJoinHandle) {
      JoinHandle<absl::Status> h = spawn(std::move(run.task));
      o.target = io_internal::JoinHandleAccess::State(h);
      o.cancel = [&h] { h.cancel(); };
      core->set_suspend_observer(&Observe, &o);
      out.status = co_await h;
    } else {
      auto t = timeout(std::move(run.task), absl::InfiniteDuration());
      o.target = core->current_task();
      o.cancel = [&t] { t.expire_now(); };
      core->set_suspend_observer(&Observe, &o);
      out.status = co_await t;
    }
    core->set_suspend_observer(nullptr, nullptr);
    out.cancelled = o.fired;
    out.suspensions = o.seen;
  }
  out.frames_leaked = LiveFrames() - frames0;
  out.pool_bytes_leaked = PoolBytesInUse() - pool0;
  co_return out;
}

}  // namespace cancel_points_internal

// Explores every cancellation point of `make()`'s scenario on `rt` (core 0).
// Two uncancelled runs come first (warm-up: rings, pools, caches); the
// baseline is taken after them. Stops after `max_points` cancelled runs.
inline CancelExploration ExploreCancellation(Runtime& rt, CancelVia via,
                                             std::function<ScenarioRun()> make,
                                             int max_points = 400) {
  using cancel_points_internal::DriveOnce;
  using cancel_points_internal::RunOutcome;
  constexpr int kRetries = 5;
  CancelExploration result;
  auto run = [&](int cancel_at, RunOutcome* out) -> bool {
    std::function<void()> after;
    absl::StatusOr<RunOutcome> r = rt.spawn_on(0, DriveOnce(via, cancel_at, &make, &after))
                                       .BlockingJoin();
    if (after) after();
    if (!r.ok()) {
      result.failure = absl::StrCat("driver failed: ", r.status().ToString());
      return false;
    }
    *out = *std::move(r);
    return true;
  };
  RunOutcome warm;
  for (int i = 0; i < 2; ++i) {
    if (!run(0, &warm)) return result;
    if (!warm.status.ok()) {
      result.failure = absl::StrCat("uncancelled run failed: ", warm.status.ToString());
      return result;
    }
  }
  const int fds = CountOpenFds();
  int retries = 0;
  for (int k = 1; k <= max_points; ++k) {
    RunOutcome o;
    if (!run(k, &o)) return result;
    const std::string where = absl::StrCat(CancelViaName(via), " at suspension ", k, ": ");
    if (o.frames_leaked != 0) {
      result.failure = absl::StrCat(where, o.frames_leaked, " coroutine frames left alive");
      return result;
    }
    if (o.pool_bytes_leaked != 0) {
      result.failure = absl::StrCat(where, o.pool_bytes_leaked, " pool bytes still in use");
      return result;
    }
    if (const int now = CountOpenFds(); now != fds) {
      result.failure = absl::StrCat(where, now - fds, " fds left open");
      return result;
    }
    if (o.cancelled) retries = 0;
    if (!o.cancelled && retries < kRetries) {
      // Suspensions vary with timing (one read or two for a peer's bytes):
      // a run that finished early gets another chance to reach point k.
      ++retries;
      --k;
      continue;
    }
    if (!o.cancelled) {
      result.points = o.suspensions;
      if (!o.status.ok()) {
        result.failure = absl::StrCat(where, "the uncancelled run failed: ", o.status.ToString());
      }
      return result;
    }
    const bool cancelled_status = via == CancelVia::kJoinHandle
                                      ? absl::IsCancelled(o.status)
                                      : absl::IsDeadlineExceeded(o.status);
    if (!cancelled_status) {
      result.failure = absl::StrCat(where, "unexpected status ", o.status.ToString());
      return result;
    }
    ++result.cancelled_runs;
  }
  result.failure = absl::StrCat("more than ", max_points, " suspension points");
  return result;
}

}  // namespace testing_io
}  // namespace readbuf

#endif  // READBUF_TESTS_IO_CANCEL_POINTS_H_
