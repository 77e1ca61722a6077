// -----------------------------------------------------------------------------
// File: io/channel.h
// -----------------------------------------------------------------------------
//
// Channel<T>: an unbounded multi-producer, multi-consumer queue for tasks on
// any cores (and plain threads as senders). A receiver waiting on core A that
// is woken by a sender on core B is resumed on core A, through A's inbox.
// After close(), sends fail and receivers drain what is left, then get an
// error.
//
// Example:
//
//   readbuf::Channel<int> ch;
//   rt.spawn_on(1, Producer(&ch));          // ch.send(i) ...; ch.close();
//   absl::StatusOr<int> v = co_await ch.receive();
//   if (!v.ok()) { /* closed and empty */ }
//
// Thread safety: all members are safe to call concurrently.
// REQUIRES: the Channel outlives every task waiting on it.

#ifndef READBUF_IO_CHANNEL_H_
#define READBUF_IO_CHANNEL_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/task.h"

namespace readbuf {

template <typename T>
class Channel {
 public:
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Enqueues `value`; FailedPreconditionError if the channel is closed.
  absl::Status send(T value) {
    io_internal::Waiter* w;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) return absl::FailedPreconditionError("channel is closed");
      items_.push_back(std::move(value));
      w = receivers_.ClaimOne();
    }
    if (w != nullptr) w->Wake();
    return absl::OkStatus();
  }

  // Waits for a value. FailedPreconditionError once closed and empty.
  // REQUIRES: on a reactor core.
  Task<absl::StatusOr<T>> receive() {
    for (;;) {
      {
        io_internal::Waiter* next = nullptr;
        std::optional<T> v;
        {
          std::lock_guard<std::mutex> l(mu_);
          if (!items_.empty()) {
            v.emplace(std::move(items_.front()));
            items_.pop_front();
            // More left: make sure another receiver is awake for it.
            if (!items_.empty()) next = receivers_.ClaimOne();
          } else if (closed_) {
            co_return absl::FailedPreconditionError("channel is closed");
          }
        }
        if (next != nullptr) next->Wake();
        if (v.has_value()) co_return std::move(*v);
      }
      co_await io_internal::WaitAwaiter(
          &mu_, &receivers_, [this] { return !items_.empty() || closed_; });
    }
  }

  // Takes a value if one is queued.
  std::optional<T> try_receive() {
    std::lock_guard<std::mutex> l(mu_);
    if (items_.empty()) return std::nullopt;
    std::optional<T> v(std::move(items_.front()));
    items_.pop_front();
    return v;
  }

  // Refuses further sends and wakes every receiver. Idempotent.
  void close() {
    io_internal::Waiter* woken = nullptr;
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      while (io_internal::Waiter* w = receivers_.ClaimOne()) {
        w->next = woken;
        woken = w;
      }
    }
    while (woken != nullptr) {
      io_internal::Waiter* next = woken->next;
      woken->next = nullptr;
      woken->Wake();
      woken = next;
    }
  }

  bool closed() const {
    std::lock_guard<std::mutex> l(mu_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return items_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<T> items_;            // guarded by mu_
  bool closed_ = false;            // guarded by mu_
  io_internal::WaitQueue receivers_;  // guarded by mu_
};

}  // namespace readbuf

#endif  // READBUF_IO_CHANNEL_H_
