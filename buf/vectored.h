// -----------------------------------------------------------------------------
// File: buf/vectored.h
// -----------------------------------------------------------------------------
//
// Vectored<N>: a scatter ReadBuf of N separately allocated segments, filled in
// order, for readv(2): a header plus a body, or a chain of blocks. Each
// segment keeps its own initialized watermark. `Vectored<std::dynamic_extent>`
// (alias DynamicVectored) takes its segment count at run time.
//
// A vectored-aware reader asks `unfilled_iovecs()` and fills several segments
// in one call; any other reader sees `unfilled()`, the free part of the first
// segment that is not full (the correct scalar default), and fills segment by
// segment. `read_buf_traits<B>::kVectored` tells callers which path to take.
//
// Example:
//
//   readbuf::Vectored<2> buf({16, 4096});          // header, body
//   iovec iov[2];
//   size_t count = buf.unfilled_iovecs(iov);
//   ssize_t n = ::readv(fd, iov, static_cast<int>(count));
//   if (n > 0) buf.advance(n);
//   readbuf::for_each_filled(buf, [](std::span<const std::byte> s) { Use(s); });

#ifndef READBUF_BUF_VECTORED_H_
#define READBUF_BUF_VECTORED_H_

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "buf/internal/check.h"
#include "buf/uninit.h"
#include "buf/uninit_span.h"

namespace readbuf {

// Vectored<N>
//
// Models VectoredReadBuf (and ReadBuf). Move-only. Allocates each segment
// once, in the constructor (default-initialized: no zeroing).
//
// Thread safety: distinct objects are safe; one object is not.
template <size_t N>
class Vectored {
  static_assert(N > 0, "Vectored needs at least one segment");

 public:
  static constexpr bool kDynamicSegments = (N == std::dynamic_extent);

  // `total` bytes split into N equal segments (dynamic form: 4 segments).
  explicit Vectored(size_t total = kDefaultReadBufCapacity)
      : Vectored(total, kDynamicSegments ? 4 : N) {}

  // Dynamic form only: `total` bytes split into `segments` equal segments.
  // REQUIRES: segments > 0, and segments == N for the fixed form.
  Vectored(size_t total, size_t segments) {
    READBUF_CHECK(segments > 0, "Vectored needs at least one segment");
    READBUF_CHECK(kDynamicSegments || segments == N,
                  "Vectored<%zu> given %zu segments", N, segments);
    Allocate(segments, [&](size_t i) {
      return total / segments + (i + 1 == segments ? total % segments : 0);
    });
  }

  // One segment per size, in fill order. REQUIRES: sizes.size() == N for
  // the fixed form; at least one size.
  Vectored(std::initializer_list<size_t> sizes) {
    READBUF_CHECK(sizes.size() > 0, "Vectored needs at least one segment");
    READBUF_CHECK(kDynamicSegments || sizes.size() == N,
                  "Vectored<%zu> given %zu segment sizes", N, sizes.size());
    Allocate(sizes.size(), [&](size_t i) { return sizes.begin()[i]; });
  }

  Vectored(Vectored&&) noexcept = default;
  Vectored& operator=(Vectored&&) noexcept = default;

  // --- ReadBuf ---
  size_t capacity() const { return capacity_; }
  size_t filled_size() const { return filled_; }
  size_t initialized_size() const {
    size_t total = 0;
    for (const Segment& s : segments_) total += s.initialized;
    return total;
  }

  // The free part of the first segment that is not full; empty when full.
  UninitSpan unfilled() {
    if (current_ == segments_.size()) return UninitSpan();
    Segment& s = segments_[current_];
    return UninitSpan(s.memory.get() + current_filled_,
                      s.capacity - current_filled_);
  }

  // Zeroes the never-written part of the current segment (once) and returns
  // its free part as initialized memory.
  std::span<std::byte> initialize_unfilled() {
    if (current_ == segments_.size()) return {};
    Segment& s = segments_[current_];
    if (s.initialized < s.capacity) {
      std::memset(s.memory.get() + s.initialized, 0,
                  s.capacity - s.initialized);
      zeroed_bytes_ += s.capacity - s.initialized;
      s.initialized = s.capacity;
    }
    return {s.memory.get() + current_filled_, s.capacity - current_filled_};
  }

  // Marks n bytes written, continuing across segments in fill order (as
  // readv(2) fills them).
  // REQUIRES: n <= capacity() - filled_size(). Debug builds CHECK; release
  // builds clamp n.
  void advance(size_t n) {
    READBUF_DCHECK(n <= capacity_ - filled_,
                   "advance(%zu) past the unfilled space (%zu bytes left)", n,
                   capacity_ - filled_);
    n = std::min(n, capacity_ - filled_);
    filled_ += n;
    while (n != 0) {
      Segment& s = segments_[current_];
      const size_t step = std::min(n, s.capacity - current_filled_);
      current_filled_ += step;
      s.initialized = std::max(s.initialized, current_filled_);
      n -= step;
      if (current_filled_ == s.capacity) NextSegment();
    }
    SkipEmptySegments();
  }

  // Forgets the filled bytes; keeps every segment's watermark.
  void clear() {
    filled_ = 0;
    current_ = 0;
    current_filled_ = 0;
    SkipEmptySegments();
  }

  // --- VectoredReadBuf ---
  size_t segment_count() const { return segments_.size(); }

  // The filled part of segment i (empty past the fill point).
  std::span<const std::byte> filled_segment(size_t i) const {
    if (i < current_) return {segments_[i].memory.get(), segments_[i].capacity};
    if (i == current_ && i < segments_.size()) {
      return {segments_[i].memory.get(), current_filled_};
    }
    return {};
  }

  // Writes the free regions, in fill order, into `out`; returns how many.
  size_t unfilled_iovecs(std::span<iovec> out) {
    size_t count = 0;
    for (size_t i = current_; i < segments_.size() && count < out.size(); ++i) {
      Segment& s = segments_[i];
      const size_t offset = (i == current_) ? current_filled_ : 0;
      if (s.capacity == offset) continue;
      out[count++] = iovec{s.memory.get() + offset, s.capacity - offset};
    }
    return count;
  }

  // Bytes zeroed by initialize_unfilled() over the buffer's life.
  size_t zeroed_bytes() const { return zeroed_bytes_; }

 private:
  struct Segment {
    std::unique_ptr<std::byte[]> memory;
    size_t capacity = 0;
    size_t initialized = 0;
  };
  using Segments =
      std::conditional_t<kDynamicSegments, absl::InlinedVector<Segment, 4>,
                         std::array<Segment, (kDynamicSegments ? 1 : N)>>;

  template <class SizeOf>
  void Allocate(size_t count, SizeOf size_of) {
    if constexpr (kDynamicSegments) segments_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const size_t size = size_of(i);
      segments_[i].memory.reset(new std::byte[size]);
      segments_[i].capacity = size;
      capacity_ += size;
    }
    SkipEmptySegments();
  }

  void NextSegment() {
    ++current_;
    current_filled_ = 0;
  }

  // Keeps current_ on a segment with free space (or at the end).
  void SkipEmptySegments() {
    while (current_ < segments_.size() &&
           segments_[current_].capacity == current_filled_) {
      NextSegment();
    }
  }

  Segments segments_;
  size_t capacity_ = 0;
  size_t filled_ = 0;
  size_t current_ = 0;         // first segment that is not full
  size_t current_filled_ = 0;  // bytes filled in segments_[current_]
  size_t zeroed_bytes_ = 0;
};

using DynamicVectored = Vectored<std::dynamic_extent>;

}  // namespace readbuf

#endif  // READBUF_BUF_VECTORED_H_
