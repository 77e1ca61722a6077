#include "io/internal/timer_heap.h"

#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {

std::int64_t BootTimeNowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t SaturatingDeadline(std::int64_t now, std::int64_t ns) {
  if (ns <= 0) return now;
  if (ns >= kNoDeadline - now) return kNoDeadline;
  return now + ns;
}

std::int64_t DeadlineAfter(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kNoDeadline;
  const std::int64_t now = BootTimeNowNs();
  if (d <= absl::ZeroDuration()) return now;
  // ToInt64Nanoseconds saturates for durations past int64 nanoseconds.
  return SaturatingDeadline(now, absl::ToInt64Nanoseconds(d));
}

void TimerHeap::Push(TimerNode* t) {
  READBUF_DCHECK(!t->armed(), "timer pushed twice");
  heap_.push_back(t);
  t->heap_index = static_cast<std::int32_t>(heap_.size() - 1);
  SiftUp(heap_.size() - 1);
}

void TimerHeap::Remove(TimerNode* t) {
  std::size_t i = static_cast<std::size_t>(t->heap_index);
  READBUF_DCHECK(i < heap_.size() && heap_[i] == t, "timer not in heap");
  TimerNode* last = heap_.back();
  heap_.pop_back();
  t->heap_index = -1;
  if (last == t) return;
  Place(i, last);
  SiftUp(i);
  SiftDown(static_cast<std::size_t>(last->heap_index));
}

void TimerHeap::SiftUp(std::size_t i) {
  TimerNode* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / kArity;
    if (heap_[parent]->deadline_ns <= t->deadline_ns) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, t);
}

void TimerHeap::SiftDown(std::size_t i) {
  TimerNode* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    std::size_t end = std::min(first + kArity, n);
    for (std::size_t c = first + 1; c < end; ++c) {
      if (heap_[c]->deadline_ns < heap_[best]->deadline_ns) best = c;
    }
    if (heap_[best]->deadline_ns >= t->deadline_ns) break;
    Place(i, heap_[best]);
    i = best;
  }
  Place(i, t);
}

}  // namespace io_internal
}  // namespace readbuf
