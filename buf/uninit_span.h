// -----------------------------------------------------------------------------
// File: buf/uninit_span.h
// -----------------------------------------------------------------------------
//
// UninitSpan is a write-only window onto memory that may not be initialized:
// the unfilled part of a ReadBuf. Its type says "do not read this". It hands
// out a raw `void*` for writers (read(2), recv(2), memcpy) and offers no way to
// read the bytes back, so uninitialized memory is never observable through it.
//
// Example:
//
//   readbuf::UninitSpan dst = buf.unfilled();
//   ssize_t n = ::read(fd, dst.write_ptr(), dst.size());
//   if (n > 0) buf.advance(static_cast<size_t>(n));

#ifndef READBUF_BUF_UNINIT_SPAN_H_
#define READBUF_BUF_UNINIT_SPAN_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>

#include "buf/internal/check.h"

namespace readbuf {

// UninitSpan
//
// A (pointer, size) pair over possibly-uninitialized bytes. Trivially
// copyable; it does not own the memory.
//
// Thread safety: a value type; the memory it names follows its owner's rules.
class UninitSpan {
 public:
  UninitSpan() = default;
  UninitSpan(void* data, size_t size)
      : data_(static_cast<std::byte*>(data)), size_(size) {}

  // The start of the window, for a writer. Reading through this pointer
  // before writing is a bug (it is what MSan and valgrind flag).
  void* write_ptr() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The window [offset, offset + count), clamped to this one.
  // REQUIRES: offset <= size().
  UninitSpan subspan(size_t offset,
                     size_t count = std::dynamic_extent) const {
    READBUF_DCHECK(offset <= size_, "subspan(%zu) past size %zu", offset,
                   size_);
    offset = std::min(offset, size_);
    return UninitSpan(data_ + offset, std::min(count, size_ - offset));
  }

  // Copies the front of `src` into the window. Returns the bytes copied,
  // min(size(), src.size()). One copy.
  size_t write(std::span<const std::byte> src) const {
    const size_t n = std::min(size_, src.size());
    if (n != 0) std::memcpy(data_, src.data(), n);
    return n;
  }

  // Zeroes the whole window and returns it as initialized memory.
  std::span<std::byte> zero() const {
    if (size_ != 0) std::memset(data_, 0, size_);
    return {data_, size_};
  }

  // For readv(2): the window as an iovec.
  iovec as_iovec() const { return iovec{data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_BUF_UNINIT_SPAN_H_
