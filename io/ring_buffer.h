// -----------------------------------------------------------------------------
// File: io/ring_buffer.h
// -----------------------------------------------------------------------------
//
// RingBuffer<T>: a bounded multi-producer, multi-consumer queue with
// back-pressure. `send` waits while the buffer is full, `recv` while it is
// empty; waiters on other cores are resumed on their own core. After
// close(), sends fail at once and receivers drain what is left, then fail.
//
// Example:
//
//   readbuf::RingBuffer<Request> q(/*capacity=*/64);
//   co_await q.send(std::move(req));             // producer
//   absl::StatusOr<Request> r = co_await q.recv();  // consumer
//
// Thread safety: all members are safe to call concurrently.
// REQUIRES: the RingBuffer outlives every task waiting on it.

#ifndef READBUF_IO_RING_BUFFER_H_
#define READBUF_IO_RING_BUFFER_H_

#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/task.h"

namespace readbuf {

template <typename T>
class RingBuffer {
 public:
  // REQUIRES: capacity > 0.
  explicit RingBuffer(std::size_t capacity) : slots_(capacity) {
    READBUF_CHECK(capacity > 0, "RingBuffer capacity must be positive");
  }
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  // Waits for room, then enqueues. FailedPreconditionError once closed.
  // REQUIRES: on a reactor core.
  Task<absl::Status> send(T value) {
    for (;;) {
      io_internal::Waiter* w = nullptr;
      bool pushed = false;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (closed_) {
          co_return absl::FailedPreconditionError("ring buffer is closed");
        }
        if (count_ < slots_.size()) {
          PushLocked(std::move(value));
          pushed = true;
          w = receivers_.ClaimOne();
        }
      }
      if (pushed) {
        if (w != nullptr) w->Wake();
        co_return absl::OkStatus();
      }
      co_await io_internal::WaitAwaiter(&mu_, &senders_, [this] {
        return count_ < slots_.size() || closed_;
      });
    }
  }

  // Waits for a value. FailedPreconditionError once closed and empty.
  // REQUIRES: on a reactor core.
  Task<absl::StatusOr<T>> recv() {
    for (;;) {
      std::optional<T> v;
      io_internal::Waiter* w = nullptr;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (count_ > 0) {
          v.emplace(PopLocked());
          w = senders_.ClaimOne();
        } else if (closed_) {
          co_return absl::FailedPreconditionError("ring buffer is closed");
        }
      }
      if (w != nullptr) w->Wake();
      if (v.has_value()) co_return std::move(*v);
      co_await io_internal::WaitAwaiter(
          &mu_, &receivers_, [this] { return count_ > 0 || closed_; });
    }
  }

  // Enqueues without waiting; false (value dropped) if full or closed.
  bool try_send(T value) {
    io_internal::Waiter* w;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_ || count_ == slots_.size()) return false;
      PushLocked(std::move(value));
      w = receivers_.ClaimOne();
    }
    if (w != nullptr) w->Wake();
    return true;
  }

  // Dequeues without waiting.
  std::optional<T> try_recv() {
    std::optional<T> v;
    io_internal::Waiter* w;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (count_ == 0) return std::nullopt;
      v.emplace(PopLocked());
      w = senders_.ClaimOne();
    }
    if (w != nullptr) w->Wake();
    return v;
  }

  // Fails further sends and wakes every waiter. Idempotent.
  void close() {
    io_internal::Waiter* woken = nullptr;
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      for (io_internal::WaitQueue* q : {&senders_, &receivers_}) {
        while (io_internal::Waiter* w = q->ClaimOne()) {
          w->next = woken;
          woken = w;
        }
      }
    }
    while (woken != nullptr) {
      io_internal::Waiter* next = woken->next;
      woken->next = nullptr;
      woken->Wake();
      woken = next;
    }
  }

  std::size_t capacity() const { return slots_.size(); }
  std::size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }

 private:
  void PushLocked(T value) {
    slots_[(head_ + count_) % slots_.size()].emplace(std::move(value));
    ++count_;
  }
  T PopLocked() {
    T v = std::move(*slots_[head_]);
    slots_[head_].reset();
    head_ = (head_ + 1) % slots_.size();
    --count_;
    return v;
  }

  mutable std::mutex mu_;
  std::vector<std::optional<T>> slots_;  // guarded by mu_
  std::size_t head_ = 0;                 // guarded by mu_
  std::size_t count_ = 0;                // guarded by mu_
  bool closed_ = false;                  // guarded by mu_
  io_internal::WaitQueue senders_;       // guarded by mu_
  io_internal::WaitQueue receivers_;     // guarded by mu_
};

}  // namespace readbuf

#endif  // READBUF_IO_RING_BUFFER_H_
