// -----------------------------------------------------------------------------
// File: io/async_mutex.h
// -----------------------------------------------------------------------------
//
// AsyncMutex<T>: a mutex that suspends the waiting task (never the core's
// thread) and guards a T. `co_await m.lock()` yields a Guard giving access to
// the value; the Guard unlocks on destruction. Waiters on other cores are
// resumed on their own core. Fair: unlocking with waiters hands the lock
// straight to the first of them (FIFO), so a task that unlocks and relocks
// in a loop cannot starve a waiter on another core.
//
// Example:
//
//   readbuf::AsyncMutex<std::vector<int>> m;
//   {
//     auto g = co_await m.lock();
//     g->push_back(1);
//     co_await readbuf::sleep_for(absl::Milliseconds(1));  // still held
//   }
//
// Thread safety: all members are safe to call concurrently.
// REQUIRES: the AsyncMutex outlives its guards and waiters.

#ifndef READBUF_IO_ASYNC_MUTEX_H_
#define READBUF_IO_ASYNC_MUTEX_H_

#include <mutex>
#include <optional>
#include <utility>

#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/task.h"

namespace readbuf {

template <typename T>
class AsyncMutex {
 public:
  AsyncMutex() = default;
  explicit AsyncMutex(T value) : value_(std::move(value)) {}
  AsyncMutex(const AsyncMutex&) = delete;
  AsyncMutex& operator=(const AsyncMutex&) = delete;

  // Holds the lock; move-only.
  class Guard {
   public:
    Guard(Guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        unlock();
        m_ = std::exchange(o.m_, nullptr);
      }
      return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { unlock(); }

    T& operator*() const { return m_->value_; }
    T* operator->() const { return &m_->value_; }
    bool owns_lock() const { return m_ != nullptr; }
    // Releases early. Idempotent.
    void unlock() {
      if (m_ != nullptr) std::exchange(m_, nullptr)->Unlock();
    }

   private:
    friend class AsyncMutex;
    explicit Guard(AsyncMutex* m) : m_(m) {}
    AsyncMutex* m_;
  };

  // Waits for the lock. REQUIRES: on a reactor core.
  // Cancellation: a waiter cancelled after the lock was handed to it passes
  // the lock on to the next waiter (or releases it).
  Task<Guard> lock() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!locked_ && waiters_.empty()) {
        locked_ = true;
        co_return Guard(this);
      }
    }
    // The check runs under mu_ and takes the lock when it is free, so no
    // other task can take it between the check and the guard.
    io_internal::WaitAwaiter wait(&mu_, &waiters_, [this] {
      if (locked_) return false;
      locked_ = true;
      return true;
    });
    wait.set_pass_on(&PassLockOn, this);
    co_await wait;
    // Held: taken by the check, or handed over by Unlock (which leaves
    // locked_ set when it wakes a waiter).
    co_return Guard(this);
  }

  // Takes the lock if it is free.
  std::optional<Guard> try_lock() {
    std::lock_guard<std::mutex> l(mu_);
    if (locked_) return std::nullopt;
    locked_ = true;
    return Guard(this);
  }

  bool is_locked() const {
    std::lock_guard<std::mutex> l(mu_);
    return locked_;
  }

 private:
  // Hands the lock to the first waiter, or releases it.
  void Unlock() {
    io_internal::Waiter* w;
    {
      std::lock_guard<std::mutex> l(mu_);
      w = waiters_.ClaimOne();
      if (w == nullptr) locked_ = false;
    }
    if (w != nullptr) w->Wake();
  }

  // A waiter the lock was handed to was destroyed before it ran: hand the
  // lock on. Called with mu_ held.
  static io_internal::Waiter* PassLockOn(void* self, io_internal::WaitQueue* q) {
    io_internal::Waiter* w = q->ClaimOne();
    if (w == nullptr) static_cast<AsyncMutex*>(self)->locked_ = false;
    return w;
  }

  mutable std::mutex mu_;
  bool locked_ = false;              // guarded by mu_
  io_internal::WaitQueue waiters_;   // guarded by mu_
  T value_;                          // guarded by the async lock
};

}  // namespace readbuf

#endif  // READBUF_IO_ASYNC_MUTEX_H_
