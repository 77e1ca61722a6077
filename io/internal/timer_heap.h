// -----------------------------------------------------------------------------
// File: io/internal/timer_heap.h
// -----------------------------------------------------------------------------
//
// Deadlines on CLOCK_BOOTTIME and each core's timer heap.
//
// A deadline is nanoseconds on CLOCK_BOOTTIME (which keeps counting across
// suspend). kNoDeadline means "never": DeadlineAfter() saturates to it, so
// an infinite duration waits forever and no arithmetic overflows; a zero or
// negative duration means "now".
//
// TimerHeap is a 4-ary min-heap of intrusive TimerNodes, owned by one core;
// the earliest deadline becomes the timeout of the core's wait for events.
// Thread safety: a heap is used on its core's thread only.

#ifndef READBUF_IO_INTERNAL_TIMER_HEAP_H_
#define READBUF_IO_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/time/time.h"

namespace readbuf {
namespace io_internal {

// Nanoseconds on CLOCK_BOOTTIME.
std::int64_t BootTimeNowNs();

// A deadline that never comes.
inline constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();

// The deadline `d` from now: kNoDeadline for an infinite (or too large)
// duration, now for d <= 0. Never overflows.
std::int64_t DeadlineAfter(absl::Duration d);

// `now + ns`, saturating at kNoDeadline (and at now for ns <= 0).
std::int64_t SaturatingDeadline(std::int64_t now, std::int64_t ns);

// ---------------------------------------------------------------------------
// TimerNode: an entry in a core's timer heap.
// ---------------------------------------------------------------------------
struct TimerNode {
  std::int64_t deadline_ns = 0;
  std::int32_t heap_index = -1;
  void (*fire)(TimerNode*) = nullptr;
  bool armed() const { return heap_index >= 0; }
};

class TimerHeap {
 public:
  void Push(TimerNode* t);
  void Remove(TimerNode* t);
  TimerNode* Top() const { return heap_.empty() ? nullptr : heap_.front(); }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }

 private:
  static constexpr std::size_t kArity = 4;
  void SiftUp(std::size_t i);
  void SiftDown(std::size_t i);
  void Place(std::size_t i, TimerNode* t) {
    heap_[i] = t;
    t->heap_index = static_cast<std::int32_t>(i);
  }
  std::vector<TimerNode*> heap_;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_TIMER_HEAP_H_
