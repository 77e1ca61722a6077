// -----------------------------------------------------------------------------
// File: io/internal/wait_awaiter.h
// -----------------------------------------------------------------------------
//
// WaitAwaiter: suspends the current task on a WaitQueue
// (io/internal/wait_queue.h) until its owner's condition holds or an optional
// deadline passes. Channel, AsyncMutex, RingBuffer and JoinHandle wait with
// it.
//
// Cancellation: destroying a suspended WaitAwaiter removes it from the queue;
// one that was woken but destroyed before it ran hands the wake-up on to the
// next waiter, so a cancelled receiver never swallows a notification. An
// owner that hands more than a wake-up to the woken waiter (AsyncMutex hands
// over the lock itself) sets its own hand-on with set_pass_on().

#ifndef READBUF_IO_INTERNAL_WAIT_AWAITER_H_
#define READBUF_IO_INTERNAL_WAIT_AWAITER_H_

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/wait_queue.h"

namespace readbuf {
namespace io_internal {

// Waits on `q` until `ready()` holds (checked under `mu`) or the optional
// deadline passes (CLOCK_BOOTTIME; kNoDeadline never passes).
// await_resume() returns false on timeout. The owner re-checks its condition
// after waking (wake-ups may be spurious: another task can take the item
// first).
// `Mutex` is the owner's lock type (std::mutex, or SpinLock for a task's
// joiners).
template <typename Ready, typename Mutex = std::mutex>
class WaitAwaiter {
 public:
  WaitAwaiter(Mutex* mu, WaitQueue* q, Ready ready,
              std::optional<std::int64_t> deadline_ns = std::nullopt)
      : mu_(mu), q_(q), ready_(std::move(ready)), deadline_ns_(deadline_ns) {
    if (deadline_ns_ == kNoDeadline) deadline_ns_.reset();
  }
  WaitAwaiter(const WaitAwaiter&) = delete;
  WaitAwaiter& operator=(const WaitAwaiter&) = delete;

  // Called under the owner's lock when this waiter was woken but is
  // destroyed before it ran: returns the claimed waiter to wake in its place
  // (or nullptr). The default claims the next one in the queue.
  using PassOn = Waiter* (*)(void* ctx, WaitQueue* q);
  void set_pass_on(PassOn fn, void* ctx) {
    pass_on_ = fn;
    pass_on_ctx_ = ctx;
  }

  ~WaitAwaiter() {
    if (!suspended_) return;
    if (timer_.armed()) w_.core->RemoveTimer(&timer_);
    Waiter* pass_on = nullptr;
    {
      std::lock_guard<Mutex> l(*mu_);
      if (w_.state == Waiter::kQueued) {
        q_->Remove(&w_);
      } else if (w_.state == Waiter::kNotified && !w_.timed_out) {
        // Woken but destroyed before running: hand the wake-up on.
        pass_on = pass_on_(pass_on_ctx_, q_);
      }
    }
    if (pass_on != nullptr) pass_on->Wake();
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    Core* core = CurrentCore();
    READBUF_CHECK(core != nullptr, "awaiting outside a reactor core");
    std::lock_guard<Mutex> l(*mu_);
    if (ready_()) return false;
    if (deadline_ns_.has_value() && *deadline_ns_ <= BootTimeNowNs()) {
      w_.timed_out = true;
      return false;
    }
    suspended_ = true;
    w_.core = core;
    w_.run.h = h;
    w_.run.scope = core->current_scope();
    q_->PushBack(&w_);
    if (deadline_ns_.has_value()) {
      timer_.deadline_ns = *deadline_ns_;
      timer_.fire = &FireTimer;
      timer_.self = this;
      core->AddTimer(&timer_);
    }
    return true;
  }

  bool await_resume() {
    if (suspended_) {
      if (timer_.armed()) w_.core->RemoveTimer(&timer_);
      std::lock_guard<Mutex> l(*mu_);
      w_.state = Waiter::kResumed;
    }
    return !w_.timed_out;
  }

 private:
  struct Timer : TimerNode {
    WaitAwaiter* self = nullptr;
  };
  static Waiter* ClaimNext(void*, WaitQueue* q) { return q->ClaimOne(); }

  static void FireTimer(TimerNode* t) {
    WaitAwaiter* self = static_cast<Timer*>(t)->self;
    bool wake = false;
    {
      std::lock_guard<Mutex> l(*self->mu_);
      if (self->w_.state == Waiter::kQueued) {
        self->q_->Remove(&self->w_);
        self->w_.state = Waiter::kNotified;
        self->w_.timed_out = true;
        wake = true;
      }
    }
    if (wake) self->w_.core->Schedule(&self->w_.run);
  }

  Mutex* mu_;
  WaitQueue* q_;
  Ready ready_;
  std::optional<std::int64_t> deadline_ns_;
  PassOn pass_on_ = &ClaimNext;
  void* pass_on_ctx_ = nullptr;
  bool suspended_ = false;
  Waiter w_;
  Timer timer_;
};

template <typename Ready, typename Mutex>
WaitAwaiter(Mutex*, WaitQueue*, Ready) -> WaitAwaiter<Ready, Mutex>;
template <typename Ready, typename Mutex>
WaitAwaiter(Mutex*, WaitQueue*, Ready, std::optional<std::int64_t>)
    -> WaitAwaiter<Ready, Mutex>;

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_WAIT_AWAITER_H_
