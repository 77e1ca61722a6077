// -----------------------------------------------------------------------------
// File: buf/read_buf_window.h
// -----------------------------------------------------------------------------
//
// ReadBufWindow keeps the filled/initialized watermarks over one contiguous
// region and implements the whole ReadBuf concept (buf/read_buf.h) on it.
// The contiguous policies (Zeroed, Uninit, Pooled, BorrowedReadBuf) derive
// from it and only decide where the memory comes from, so the bookkeeping
// exists once and non-template code can hold a `ReadBufWindow&`.
//
// Example (a policy supplying memory):
//
//   class MyBuf : public readbuf::ReadBufWindow {
//    public:
//     explicit MyBuf(size_t n) : mem_(new std::byte[n]) { Reset(mem_.get(), n, 0); }
//    private:
//     std::unique_ptr<std::byte[]> mem_;
//   };

#ifndef READBUF_BUF_READ_BUF_WINDOW_H_
#define READBUF_BUF_READ_BUF_WINDOW_H_

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>

#include "buf/internal/check.h"
#include "buf/uninit_span.h"

namespace readbuf {

// ReadBufWindow
//
// Models ContiguousReadBuf. Not copyable (a copy would alias the memory);
// movable only by derived classes that move their memory with it.
//
// Thread safety: distinct objects are safe; one object is not.
class ReadBufWindow {
 public:
  ReadBufWindow(const ReadBufWindow&) = delete;
  ReadBufWindow& operator=(const ReadBufWindow&) = delete;

  size_t capacity() const { return capacity_; }
  size_t filled_size() const { return filled_; }
  size_t initialized_size() const { return initialized_; }

  // The delivered bytes, read-only.
  std::span<const std::byte> filled() const { return {data_, filled_}; }

  // [filled, capacity), write-only.
  UninitSpan unfilled() { return UninitSpan(data_ + filled_, capacity_ - filled_); }

  // Zeroes [initialized, capacity) -- only the part never written -- and
  // returns [filled, capacity) as initialized memory, for span<byte> readers.
  // Repeated calls zero nothing more.
  std::span<std::byte> initialize_unfilled() {
    if (initialized_ < capacity_) {
      std::memset(data_ + initialized_, 0, capacity_ - initialized_);
      zeroed_bytes_ += capacity_ - initialized_;
      initialized_ = capacity_;
    }
    return {data_ + filled_, capacity_ - filled_};
  }

  // Marks n bytes of unfilled() as written; raises the initialized watermark
  // to cover them.
  // REQUIRES: n <= capacity() - filled_size(). Debug builds CHECK; release
  // builds clamp n, so the invariant always holds.
  void advance(size_t n) {
    READBUF_DCHECK(n <= capacity_ - filled_,
                   "advance(%zu) past the unfilled region (%zu bytes left)", n,
                   capacity_ - filled_);
    filled_ += std::min(n, capacity_ - filled_);
    initialized_ = std::max(initialized_, filled_);
  }

  // Forgets the filled bytes; keeps the initialized watermark.
  void clear() { filled_ = 0; }

  // Bytes this window zeroed through initialize_unfilled() over its life
  // (and across Reset()s), so tests and benchmarks can show "zero once".
  size_t zeroed_bytes() const { return zeroed_bytes_; }

 protected:
  ReadBufWindow() = default;
  ~ReadBufWindow() = default;

  // Moves the window state from `other` and empties it. For derived classes
  // whose memory moves with them.
  ReadBufWindow(ReadBufWindow&& other) noexcept { TakeFrom(other); }
  ReadBufWindow& operator=(ReadBufWindow&& other) noexcept {
    if (this != &other) TakeFrom(other);
    return *this;
  }

  // Points the window at new memory. `initialized` bytes of it are known to
  // be written (0 for fresh memory). filled becomes 0.
  // REQUIRES: initialized <= capacity.
  void Reset(std::byte* data, size_t capacity, size_t initialized) {
    READBUF_DCHECK(initialized <= capacity, "initialized %zu > capacity %zu",
                   initialized, capacity);
    data_ = data;
    capacity_ = capacity;
    filled_ = 0;
    initialized_ = std::min(initialized, capacity);
  }

  // For a derived class that must keep the filled bytes while it swaps
  // memory (it copied them over itself).
  void SetFilled(size_t filled) {
    filled_ = filled;
    initialized_ = std::max(initialized_, filled_);
  }

  // Marks the whole capacity as initialized (the derived class wrote it).
  void MarkAllInitialized() { initialized_ = capacity_; }

  std::byte* data() const { return data_; }

 private:
  void TakeFrom(ReadBufWindow& other) {
    data_ = other.data_;
    capacity_ = other.capacity_;
    filled_ = other.filled_;
    initialized_ = other.initialized_;
    zeroed_bytes_ = other.zeroed_bytes_;
    other.data_ = nullptr;
    other.capacity_ = other.filled_ = other.initialized_ = 0;
  }

  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  size_t filled_ = 0;
  size_t initialized_ = 0;
  size_t zeroed_bytes_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_BUF_READ_BUF_WINDOW_H_
