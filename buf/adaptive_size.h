// -----------------------------------------------------------------------------
// File: buf/adaptive_size.h
// -----------------------------------------------------------------------------
//
// AdaptiveReadSize picks the next read size for one connection from the sizes
// of its past reads: it doubles after a read that filled the buffer (grow
// fast) and halves only after two reads in a row that used less than half
// (shrink slowly), between a minimum and a maximum. This is Seastar's rule
// (x2 / /2 between 512 B and 128 KiB, +13% req/s measured there) with Netty's
// "shrink only after two small reads" hysteresis. Pooled uses it to size the
// block it takes from the pool, and the io_uring provided-buffer ring can use
// it for its buffer size.
//
// Example:
//
//   readbuf::AdaptiveReadSize size;                 // 512 B .. 128 KiB, starts 8 KiB
//   size_t want = size.next();
//   size_t got = ReadInto(want);
//   size.record(got, want);

#ifndef READBUF_BUF_ADAPTIVE_SIZE_H_
#define READBUF_BUF_ADAPTIVE_SIZE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "buf/internal/check.h"

namespace readbuf {

// AdaptiveReadSize
//
// A value type, 16 bytes. Thread safety: distinct objects are safe.
class AdaptiveReadSize {
 public:
  struct Limits {
    uint32_t min = 512;
    uint32_t initial = 8 * 1024;
    uint32_t max = 128 * 1024;
  };

  AdaptiveReadSize() : AdaptiveReadSize(Limits()) {}
  // REQUIRES: 0 < min <= initial <= max.
  explicit AdaptiveReadSize(Limits limits)
      : min_(limits.min), max_(limits.max), next_(limits.initial) {
    READBUF_CHECK(0 < limits.min && limits.min <= limits.initial &&
                      limits.initial <= limits.max,
                  "AdaptiveReadSize limits must satisfy 0 < min <= initial <= "
                  "max (got %u, %u, %u)",
                  limits.min, limits.initial, limits.max);
  }

  // The size to ask for next.
  size_t next() const { return next_; }
  // Limits::max.
  size_t max() const { return max_; }

  // Feeds back one read: `bytes` delivered out of `asked`.
  void record(size_t bytes, size_t asked) {
    if (asked != 0 && bytes >= asked) {  // full: the peer had more
      next_ = static_cast<uint32_t>(std::min<size_t>(size_t{next_} * 2, max_));
      small_reads_ = 0;
    } else if (bytes * 2 < next_) {  // used less than half
      if (++small_reads_ >= 2) {
        next_ = std::max(min_, next_ / 2);
        small_reads_ = 0;
      }
    } else {
      small_reads_ = 0;
    }
  }

 private:
  uint32_t min_;
  uint32_t max_;
  uint32_t next_;
  uint32_t small_reads_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_BUF_ADAPTIVE_SIZE_H_
