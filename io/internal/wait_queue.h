// -----------------------------------------------------------------------------
// File: io/internal/wait_queue.h
// -----------------------------------------------------------------------------
//
// Waiter and WaitQueue: the building block of Channel, AsyncMutex,
// RingBuffer and JoinHandle. A WaitQueue is an intrusive list of waiting
// tasks, protected by its owner's std::mutex; the awaiter that puts a task on
// it is WaitAwaiter (io/internal/wait_awaiter.h).
//
// Waking protocol: a waker first *claims* a waiter under the owner's lock
// (Claim). Claiming from another thread pins the waiter's scope (a wake
// reference, io/internal/scope.h), so the frame holding the waiter, and the
// wake message inside it, stay alive until the message is delivered. Then,
// with the lock released, Wake() schedules the waiter directly (same core)
// or posts the message to the waiter's core.

#ifndef READBUF_IO_INTERNAL_WAIT_QUEUE_H_
#define READBUF_IO_INTERNAL_WAIT_QUEUE_H_

#include <cstdint>

#include "io/internal/nodes.h"

namespace readbuf {
namespace io_internal {

class Core;

struct Waiter {
  enum State : std::uint8_t { kIdle, kQueued, kNotified, kResumed };
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  Core* core = nullptr;
  State state = kIdle;    // guarded by the owner's mutex while queued
  bool timed_out = false;
  RunNode run;
  MsgNode wake_msg;

  // Claims the waiter for a wake-up. False if its scope is being destroyed.
  // REQUIRES: the owner's mutex held.
  bool Claim();
  // Delivers a claimed wake-up: schedules directly on the same core, posts a
  // message otherwise. REQUIRES: Claim() returned true; mutex released.
  void Wake();
};

// A FIFO of Waiters: circular through prev/next, so one pointer (every
// spawned task carries a WaitQueue for its joiners).
class WaitQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  void PushBack(Waiter* w);
  // REQUIRES: `w` is in this queue.
  void Remove(Waiter* w);
  // Unlinks and claims the first waiter whose scope is not being destroyed.
  Waiter* ClaimOne();

 private:
  Waiter* head_ = nullptr;  // head_->prev is the tail
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_WAIT_QUEUE_H_
