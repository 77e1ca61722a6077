// -----------------------------------------------------------------------------
// File: io/internal/spin_lock.h
// -----------------------------------------------------------------------------
//
// SpinLock: a one-byte lock for state that every spawned task carries (its
// joiners and done flag), where a 40-byte std::mutex per task would be most
// of an idle connection's cost. Critical sections under it are a few pointer
// updates; a waiter spins briefly, then yields its thread. Meets
// BasicLockable, so std::lock_guard works.
//
// Thread safety: that is its purpose. Not recursive.

#ifndef READBUF_IO_INTERNAL_SPIN_LOCK_H_
#define READBUF_IO_INTERNAL_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>

namespace readbuf {
namespace io_internal {

class SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          CpuRelax();
        } else {
          ::sched_yield();
        }
      }
    }
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_SPIN_LOCK_H_
