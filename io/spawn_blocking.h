// -----------------------------------------------------------------------------
// File: io/spawn_blocking.h
// -----------------------------------------------------------------------------
//
// spawn_blocking(fn) runs a function that blocks its thread (getaddrinfo, a
// synchronous library, fsync, a long computation) on the Runtime's bounded
// blocking pool. The awaiting task is resumed on its own core with the
// result; the core keeps running its other tasks meanwhile.
//
// Example:
//
//   readbuf::BlockingHandle<absl::StatusOr<std::string>> h =
//       readbuf::spawn_blocking([path] { return ReadWholeFile(path); });
//   absl::StatusOr<std::string> text = co_await std::move(h);
//   auto r = co_await readbuf::timeout(readbuf::spawn_blocking(Slow), absl::Seconds(1));
//
// The call starts as soon as a pool thread is free, whether or not the handle
// is awaited yet. `co_await handle` yields JoinResult<R> for fn's result R
// (absl::Status for void; see io/runtime.h).
//
// The pool (io/internal/blocking_pool.h) belongs to the Runtime. It starts
// no thread before the first call, has at most
// RuntimeOptions::blocking_threads threads (default 64), queues further calls
// FIFO, and lets a thread idle for RuntimeOptions::blocking_idle_timeout
// (default 10 s) exit. At Runtime::Shutdown, queued and running calls get
// until the end of the shutdown grace; then calls that have not started are
// dropped, and the threads of those still running are detached (one line on
// stderr).
//
// Cancellation. A RUNNING fn IS NEVER INTERRUPTED: there is no safe way to
// stop a thread inside a blocking call. What cancellation does:
//  * Cancelling the awaiting task (JoinHandle::cancel, Runtime shutdown) or a
//    timeout() around the await destroys the awaiter at once, like any other
//    (see the contract in io/runtime.h); the pool thread never touches the
//    awaiting frame afterwards. fn runs on, and its result is destroyed when
//    it arrives (on the pool thread), unless the handle is still alive and
//    awaited again (an lvalue handle under timeout()).
//  * BlockingHandle::cancel() additionally keeps a call that has not started
//    from ever starting; awaiting it then yields absl::CancelledError.
//  * Dropping a handle detaches the call: it still runs.
// So fn must own everything it uses -- capture by value or shared_ptr, never
// a reference into the awaiting frame, which may be gone while fn runs.
//
// Threads and copies: fn is moved once into a heap-allocated, refcounted
// state shared by the pool and the handle (one allocation per call), invoked
// once as an rvalue on a pool thread, and destroyed there (or on the thread
// that cancels it before it starts). The result is moved into that state and
// moved out to the awaiter. An exception escaping fn terminates the program,
// as from a Task.
//
// Thread safety: a handle is used by one thread at a time; awaiting happens
// on a reactor core; cancel() and done() may be called from any thread.

#ifndef READBUF_IO_SPAWN_BLOCKING_H_
#define READBUF_IO_SPAWN_BLOCKING_H_

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "io/internal/blocking_pool.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/internal/wait_queue.h"
#include "io/runtime.h"

namespace readbuf {

template <typename T>
class BlockingHandle;

namespace io_internal {

// The state a blocking call shares between the pool and its handle: the
// result, and the queue of the task awaiting it. The pool thread completes
// it and wakes the waiter through the WaitQueue protocol (claim under mu_,
// which pins the waiter's frame; then post the wake to its core), so it never
// reaches into a frame whose awaiter has left.
template <typename T>
class BlockingResult : public BlockingJob {
 public:
  void Drop(absl::Status why) noexcept override {
    if (Claim(kAbandoned)) Fail(std::move(why));
  }

  // Keeps an unstarted call from starting. No effect once it has started.
  void Cancel() {
    if (Claim(kAbandoned)) {
      Fail(absl::CancelledError("spawn_blocking: cancelled before the call started"));
    }
  }

  bool done() {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }

  // The result, once. REQUIRES: done().
  JoinResult<T> Take() {
    std::lock_guard<std::mutex> l(mu_);
    READBUF_DCHECK(done_, "result of an unfinished blocking call");
    if (!error_.ok()) return error_;
    if constexpr (std::is_void_v<T>) {
      return absl::OkStatus();
    } else {
      if (!value_.has_value()) {
        return absl::FailedPreconditionError("spawn_blocking: result already taken");
      }
      std::optional<T> v;
      v.swap(value_);
      return JoinResult<T>(std::move(*v));
    }
  }

  struct DoneFn {
    BlockingResult* st;
    bool operator()() const { return st->done_; }  // under mu_
  };
  std::mutex mu_;
  WaitQueue waiters_;  // guarded by mu_

 protected:
  enum Phase : std::uint8_t { kQueued, kRunning, kAbandoned };

  // Moves the call out of kQueued; true for exactly one caller, who then
  // owns fn. The others never touch it.
  bool Claim(Phase to) {
    Phase expected = kQueued;
    return phase_.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }

  // Destroys fn (the claimer calls it).
  virtual void DestroyFn() noexcept = 0;

  // Publishes the result written to value_ (or none, for void) and wakes the
  // waiter. value_ is written before, without mu_: nothing reads it before
  // seeing done_ under mu_.
  void Succeed() { Complete(absl::OkStatus()); }
  void Fail(absl::Status why) {
    DestroyFn();
    Complete(std::move(why));
  }

  struct Empty {};
  std::conditional_t<std::is_void_v<T>, Empty, std::optional<T>> value_;

 private:
  void Complete(absl::Status error) {
    Waiter* woken = nullptr;  // singly linked through `next`
    {
      std::lock_guard<std::mutex> l(mu_);
      error_ = std::move(error);
      done_ = true;
      while (Waiter* w = waiters_.ClaimOne()) {
        w->next = woken;
        woken = w;
      }
    }
    while (woken != nullptr) {
      Waiter* next = woken->next;
      woken->next = nullptr;
      woken->Wake();
      woken = next;
    }
  }

  std::atomic<Phase> phase_{kQueued};
  bool done_ = false;   // guarded by mu_
  absl::Status error_;  // guarded by mu_: why it ended without running
};

template <typename T, typename F>
class BlockingCall final : public BlockingResult<T> {
 public:
  template <typename G>
  explicit BlockingCall(G&& fn) : fn_(std::in_place, std::forward<G>(fn)) {}

  void Run() noexcept override {
    if (!this->Claim(BlockingResult<T>::kRunning)) return;  // cancelled
    if constexpr (std::is_void_v<T>) {
      std::invoke(std::move(*fn_));
    } else {
      this->value_.emplace(std::invoke(std::move(*fn_)));
    }
    fn_.reset();
    this->Succeed();
  }

 private:
  void DestroyFn() noexcept override { fn_.reset(); }
  std::optional<F> fn_;
};

template <typename F>
using BlockingResultOf = std::remove_cv_t<std::invoke_result_t<std::decay_t<F>&&>>;

struct BlockingHandleAccess {
  template <typename T>
  static BlockingHandle<T> Make(BlockingResult<T>* st) {
    return BlockingHandle<T>(st);
  }
};

}  // namespace io_internal

// BlockingHandle<T>
//
// Refers to a call started by spawn_blocking. `co_await handle` (on a core)
// waits for it without blocking the core and yields JoinResult<T>; the value
// can be taken once. Destroying the handle detaches the call.
template <typename T>
class [[nodiscard]] BlockingHandle {
 public:
  BlockingHandle() = default;
  BlockingHandle(BlockingHandle&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  BlockingHandle& operator=(BlockingHandle&& o) noexcept {
    if (this != &o) {
      detach();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  BlockingHandle(const BlockingHandle&) = delete;
  BlockingHandle& operator=(const BlockingHandle&) = delete;
  ~BlockingHandle() { detach(); }

  bool valid() const { return st_ != nullptr; }

  // Lets the call run on without this handle; its result is dropped.
  void detach() {
    if (st_ != nullptr) std::exchange(st_, nullptr)->Unref();
  }

  // If the call has not started, it never will, and awaiting yields
  // absl::CancelledError. A running call is not interrupted. REQUIRES: valid().
  void cancel() { st_->Cancel(); }

  // True once the result (or the cancellation) is there. REQUIRES: valid().
  bool done() const { return st_->done(); }

  class Awaiter {
   public:
    explicit Awaiter(BlockingHandle* h)
        : h_(h),
          wait_(&h->st_->mu_, &h->st_->waiters_,
                typename io_internal::BlockingResult<T>::DoneFn{h->st_}) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> c) { return wait_.await_suspend(c); }
    JoinResult<T> await_resume() {
      wait_.await_resume();  // no deadline: never a timeout
      return h_->st_->Take();
    }

   private:
    BlockingHandle* h_;
    io_internal::WaitAwaiter<typename io_internal::BlockingResult<T>::DoneFn> wait_;
  };

  // REQUIRES: valid(); on a reactor core.
  Awaiter operator co_await() & { return Awaiter(this); }
  Awaiter operator co_await() && { return Awaiter(this); }

 private:
  friend struct io_internal::BlockingHandleAccess;
  explicit BlockingHandle(io_internal::BlockingResult<T>* st) : st_(st) {}

  io_internal::BlockingResult<T>* st_ = nullptr;
};

// Starts `fn()` on the current Runtime's blocking pool and returns its
// handle. fn is moved (or copied, for an lvalue) into the call's state; see
// the file comment for threads, cancellation and what fn may capture.
// REQUIRES: called on a reactor core; fn returns a value (or void), not a
// reference.
//
// GCC 12 miscompiles a lambda-expression with captures written inside a
// co_await operand -- `co_await spawn_blocking([s] { ... })` -- destroying
// its captures twice. Name the handle first (`auto h = spawn_blocking([s]
// { ... }); co_await std::move(h);`) or pass the arguments separately
// (`co_await spawn_blocking(Fn, s)`); clang is not affected.
template <typename F>
  requires std::invocable<std::decay_t<F>&&>
BlockingHandle<io_internal::BlockingResultOf<F>> spawn_blocking(F&& fn) {
  using T = io_internal::BlockingResultOf<F>;
  static_assert(!std::is_reference_v<std::invoke_result_t<std::decay_t<F>&&>>,
                "spawn_blocking: fn must return by value (the result crosses threads)");
  io_internal::BlockingPool* pool = io_internal::CurrentBlockingPool();
  READBUF_CHECK(pool != nullptr, "spawn_blocking outside a reactor core");
  auto* call = new io_internal::BlockingCall<T, std::decay_t<F>>(std::forward<F>(fn));
  call->Ref();  // one reference for the handle, one for the pool
  pool->Submit(call);
  return io_internal::BlockingHandleAccess::Make<T>(call);
}

// spawn_blocking(fn, args...): runs `fn(args...)`, with fn and args
// decay-copied (moved from rvalues) into the call's state, like std::thread.
// The way to pass arguments inside a co_await expression under GCC 12 (see
// above). REQUIRES: as for spawn_blocking(fn).
template <typename F, typename... Args>
  requires(sizeof...(Args) > 0) &&
          std::invocable<std::decay_t<F>&&, std::decay_t<Args>&&...>
auto spawn_blocking(F&& fn, Args&&... args) {
  // Built here, outside any coroutine.
  return spawn_blocking([fn = std::forward<F>(fn),
                         ... args = std::forward<Args>(args)]() mutable {
    return std::invoke(std::move(fn), std::move(args)...);
  });
}

// The calling core's blocking pool, for tests and diagnostics.
// REQUIRES: called on a reactor core.
inline io_internal::BlockingPoolStats blocking_pool_stats() {
  io_internal::BlockingPool* pool = io_internal::CurrentBlockingPool();
  READBUF_CHECK(pool != nullptr, "blocking_pool_stats outside a reactor core");
  return pool->stats();
}

}  // namespace readbuf

#endif  // READBUF_IO_SPAWN_BLOCKING_H_
