// -----------------------------------------------------------------------------
// File: buf/uninit.h
// -----------------------------------------------------------------------------
//
// Uninit: a ReadBuf policy that owns `capacity` bytes and never zeroes them
// on its own. The initialized watermark is tracked, so a span<byte> reader
// wrapped by an adapter zeroes each byte at most once over the buffer's life,
// and a reader that writes directly (read(2), recv(2)) zeroes nothing. This is
// Tokio's ReadBuf / Rust's BorrowedBuf model, and the fast default.
//
// Example:
//
//   readbuf::Uninit buf(64 * 1024);
//   ssize_t n = ::read(fd, buf.unfilled().write_ptr(), buf.unfilled().size());
//   if (n > 0) buf.advance(n);
//   Consume(buf.filled());
//   buf.clear();  // the watermark stays: nothing is zeroed twice

#ifndef READBUF_BUF_UNINIT_H_
#define READBUF_BUF_UNINIT_H_

#include <cstddef>
#include <memory>

#include "buf/read_buf_window.h"

namespace readbuf {

// The capacity the policies use when none is given: one typical socket read.
inline constexpr size_t kDefaultReadBufCapacity = 8 * 1024;

// Uninit
//
// Models ContiguousReadBuf. Move-only. Allocates once, in the constructor,
// with `new std::byte[]` (default-initialized: no zeroing).
//
// Thread safety: distinct objects are safe; one object is not.
class Uninit : public ReadBufWindow {
 public:
  explicit Uninit(size_t capacity = kDefaultReadBufCapacity)
      : memory_(new std::byte[capacity]) {
    Reset(memory_.get(), capacity, /*initialized=*/0);
  }
  Uninit(Uninit&&) noexcept = default;
  Uninit& operator=(Uninit&&) noexcept = default;

 private:
  std::unique_ptr<std::byte[]> memory_;
};

}  // namespace readbuf

#endif  // READBUF_BUF_UNINIT_H_
