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
//       co_await readbuf::timeout(readbuf::read_into(conn, buf), absl::Seconds(5));
//   if (absl::IsDeadlineExceeded(n.status())) ...   // nothing was read
//
// Deadlines saturate: absl::InfiniteDuration() means never (a sleep that
// only cancellation ends, a timeout that never fires), a zero or negative
// duration means now, and no duration overflows.
//
// Cancellation: a sleep or timeout destroyed while suspended (its task
// cancelled, or an outer timeout firing) removes its timer; timeout()
// destroys the awaitable it runs (see timeout() below and the contract in
// io/runtime.h).
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
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"
#include "io/internal/awaitable.h"
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

// Suspends the calling task for at least `d`: forever (until the task is
// cancelled) if d is absl::InfiniteDuration(), not at all if d <= 0.
inline io_internal::SleepAwaiter sleep_for(absl::Duration d) {
  return io_internal::SleepAwaiter(io_internal::DeadlineAfter(d));
}

// Suspends the calling task until `t` (no suspension if t is past;
// BootClock::time_point::max() waits forever).
inline io_internal::SleepAwaiter sleep_until(BootClock::time_point t) {
  return io_internal::SleepAwaiter(t.time_since_epoch().count());
}

namespace io_internal {

// A branch of a race: the awaitable a TimeoutAwaiter runs in the caller's own
// frames, as a cancellation scope of its own.
template <class Owner>
class RaceBranch final : public BranchScope {
 public:
  RaceBranch(Scope* parent, Owner* owner) : BranchScope(parent), owner_(owner) {}
  ~RaceBranch() = default;
  void Cancelled(Core* core) override { owner_->OnBranchCancelled(core); }

 private:
  Owner* owner_;
};

// The awaitable returned by timeout(): races `A` against a timer inside the
// awaiting task. `A` is the awaitable's type (owned, moved in) or an lvalue
// reference to one that has operator co_await (JoinHandle&).
template <class A>
class [[nodiscard]] TimeoutAwaiter {
  static constexpr bool kDirect = Awaiter<std::remove_cvref_t<A>>;
  using Inner = AwaiterOf<A>;
  using Result = decltype(std::declval<Inner&>().await_resume());

 public:
  TimeoutAwaiter(A&& a, std::int64_t deadline_ns, absl::Duration d)
      : deadline_ns_(deadline_ns), duration_(d) {
    awaitable_.Set(std::forward<A>(a));
    timer_.self = this;
    timer_.fire = &OnTimer;
  }
  // Movable until awaited (so timeouts nest: timeout(timeout(x, a), b)).
  TimeoutAwaiter(TimeoutAwaiter&& o)
      : TimeoutAwaiter(o.awaitable_.forward(), o.deadline_ns_, o.duration_) {
    READBUF_DCHECK(o.core_ == nullptr && !o.started_, "moving a timeout() that was awaited");
  }
  TimeoutAwaiter& operator=(TimeoutAwaiter&&) = delete;
  ~TimeoutAwaiter() {
    if (core_ != nullptr) core_->RemoveTimer(&timer_);
    DestroyInner();
  }

  bool await_ready() {
    started_ = true;
    if constexpr (!kDirect) {
      awaiter_.EmplaceFrom([&]() -> Inner { return GetAwaiter(awaitable_.forward()); });
    }
    return inner().await_ready();
  }

  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) {
    core_ = CurrentCore();
    READBUF_CHECK(core_ != nullptr && core_->current_scope() != nullptr,
                  "timeout() awaited outside a task on a reactor core");
    Scope* parent = core_->current_scope();
    branch_.EmplaceFrom([&] { return RaceBranch<TimeoutAwaiter>(parent, this); });
    resume_.h = caller;
    resume_.scope = parent;
    timer_.deadline_ns = deadline_ns_;
    if (deadline_ns_ != kNoDeadline) core_->AddTimer(&timer_);
    // The awaitable suspends (and later runs) inside the branch.
    core_->set_current_scope(&branch_.get());
    using R = decltype(inner().await_suspend(caller));
    if constexpr (std::is_void_v<R>) {
      inner().await_suspend(caller);
    } else if constexpr (std::is_same_v<R, bool>) {
      if (!inner().await_suspend(caller)) {
        core_->set_current_scope(parent);
        return caller;  // done without suspending
      }
    } else {
      std::coroutine_handle<> next = inner().await_suspend(caller);
      // A child coroutine runs next, inside the branch.
      if (next != caller && next != std::noop_coroutine()) return next;
      core_->set_current_scope(parent);
      return next;
    }
    core_->set_current_scope(parent);
    return std::noop_coroutine();
  }

  JoinResult<Result> await_resume() {
    if (branch_.engaged()) core_->RemoveTimer(&timer_);
    JoinResult<Result> r = TakeResult();
    // Back in the caller's scope, after the awaitable's own await_resume
    // (a nested timeout restores its parent, our branch, first).
    if (branch_.engaged()) core_->set_current_scope(branch_.get().parent());
    return r;
  }

  // Ends the wait now, as if the deadline had passed: the awaitable is
  // cancelled at the point where it is suspended. For tests that cancel at
  // a chosen suspension point. REQUIRES: suspended in co_await; on its core.
  void expire_now() {
    READBUF_CHECK(branch_.engaged() && CurrentCore() == core_,
                  "expire_now() on a timeout that is not waiting on this core");
    core_->RemoveTimer(&timer_);
    Expire();
  }

  // The branch's scope was cancelled (the deadline passed): destroy the
  // awaitable at its suspension point, then resume the caller.
  void OnBranchCancelled(Core* core) {
    RunNode& bounced = branch_.get().node;
    if (bounced.linked() && bounced.h == resume_.h) {
      // The awaitable had already completed: its final transfer to the
      // caller was bounced (ShouldBounceTransfer in io/internal/core.h) and
      // is still queued, as it can be when a when_any cancels from inside
      // the same resumption. It finished first, so it wins the race: the
      // caller gets its result, which destroying it now would lose.
      bounced.Unlink();
      core->Schedule(&resume_);
      return;
    }
    Scope* saved = core->current_scope();
    core->set_current_scope(&branch_.get());
    bounced.Unlink();  // a transfer inside the awaitable, bounced
    DestroyInner();
    core->set_current_scope(saved);
    timed_out_ = true;
    core->Schedule(&resume_);
  }

 private:
  struct Timer : TimerNode {
    TimeoutAwaiter* self = nullptr;
  };

  static void OnTimer(TimerNode* t) { static_cast<Timer*>(t)->self->Expire(); }

  JoinResult<Result> TakeResult() {
    if (timed_out_) {
      return absl::DeadlineExceededError(
          absl::StrCat("timeout: not done within ", absl::FormatDuration(duration_)));
    }
    if constexpr (std::is_void_v<Result>) {
      inner().await_resume();
      return absl::OkStatus();
    } else {
      return JoinResult<Result>(inner().await_resume());
    }
  }
  void Expire() { core_->CancelScope(&branch_.get()); }

  Inner& inner() {
    if constexpr (kDirect) {
      return awaitable_.get();
    } else {
      return awaiter_.get();
    }
  }
  void DestroyInner() {
    if constexpr (!kDirect) awaiter_.Destroy();
    awaitable_.Destroy();
  }

  // The awaitable (a reference for lvalues), and its awaiter when it is not
  // its own.
  struct Empty {};
  AwaitableSlot<A> awaitable_;
  std::conditional_t<kDirect, Empty, InPlace<Inner>> awaiter_;
  std::int64_t deadline_ns_;
  absl::Duration duration_;
  Core* core_ = nullptr;
  bool started_ = false;
  bool timed_out_ = false;
  InPlace<RaceBranch<TimeoutAwaiter>> branch_;
  RunNode resume_;  // resumes the caller after a cancel
  Timer timer_;
};

}  // namespace io_internal

// Awaits `awaitable` -- a Task, read_into(...), pooled_read(...),
// sleep_for(...), a JoinHandle, stream.ready(), anything co_await accepts --
// but gives up after `d`. Yields JoinResult<R> for an awaitable yielding R:
// absl::StatusOr<R> (absl::Status for void and Status, absl::StatusOr<U> for
// StatusOr<U>), holding the awaitable's own result, or
// absl::DeadlineExceededError("timeout: not done within <d>") if the
// deadline passed first. d <= 0: the awaitable gets one try (a Task runs up
// to its first suspension) and then times out; absl::InfiniteDuration():
// no deadline.
//
// No task is spawned: the awaitable runs inside the awaiting task, in its
// own cancellation scope, and on timeout it is destroyed in place at its
// suspension point, the way Tokio drops the losing future. When
// `co_await timeout(...)` returns, nothing of the awaitable runs any more and
// everything it held is released: fd waits, timers, queue places, buffers,
// coroutine frames. (One exception in time, not in outcome: if it is pinned
// by a wake-up already on its way from another core, or by an io_uring
// operation the kernel still owns, timeout() waits for that event before it
// destroys it and returns.) A Cancelled awaitable had no effect beyond what
// its own documentation states for cancellation (a read reads nothing; a
// lock is not taken; a value is not received).
//
// Nested timeouts: each reports its own deadline; an inner timeout's
// DeadlineExceeded is an outer timeout's ordinary result.
//
// Pass awaiters as rvalues (they are moved in before they start); an lvalue
// is accepted only for types with operator co_await (a JoinHandle, whose
// task keeps running when the wait times out).
//
// Example:
//
//   absl::StatusOr<size_t> n =
//       co_await readbuf::timeout(readbuf::read_into(conn, buf), absl::Seconds(5));
//   if (absl::IsDeadlineExceeded(n.status())) ...   // nothing was read
//
// REQUIRES: awaited inside a task on a reactor core.
template <class A>
  requires(!std::is_lvalue_reference_v<A> ||
           io_internal::HasMemberCoAwait<A>)
io_internal::TimeoutAwaiter<A> timeout(A&& awaitable, absl::Duration d) {
  return io_internal::TimeoutAwaiter<A>(std::forward<A>(awaitable),
                                        io_internal::DeadlineAfter(d), d);
}

// timeout() with an absolute deadline on BootClock.
template <class A>
  requires(!std::is_lvalue_reference_v<A> ||
           io_internal::HasMemberCoAwait<A>)
io_internal::TimeoutAwaiter<A> timeout_at(A&& awaitable, BootClock::time_point deadline) {
  return io_internal::TimeoutAwaiter<A>(
      std::forward<A>(awaitable), deadline.time_since_epoch().count(),
      absl::Nanoseconds(deadline.time_since_epoch().count() - io_internal::BootTimeNowNs()));
}

}  // namespace readbuf

#endif  // READBUF_IO_TIMER_H_
