// -----------------------------------------------------------------------------
// File: buf/borrowed_read_buf.h
// -----------------------------------------------------------------------------
//
// BorrowedReadBuf: a ReadBuf over memory the caller owns (Rust's BorrowedBuf).
// It lets a ReadBuf reader fill a caller's span<byte> (then initialized) or a
// caller's raw, uninitialized storage, without copying.
//
// Example:
//
//   std::array<std::byte, 512> storage;             // caller's memory
//   readbuf::BorrowedReadBuf buf(std::span(storage)); // initialized memory
//   size_t n = ReadSome(reader, buf);               // any ReadBuf reader
//   Use(buf.filled());

#ifndef READBUF_BUF_BORROWED_READ_BUF_H_
#define READBUF_BUF_BORROWED_READ_BUF_H_

#include <cstddef>
#include <span>

#include "buf/read_buf_window.h"
#include "buf/uninit_span.h"

namespace readbuf {

// BorrowedReadBuf
//
// Models ContiguousReadBuf. Neither copyable nor movable: it is a view whose
// identity the debug read checks rely on.
// REQUIRES: the memory outlives the BorrowedReadBuf.
class BorrowedReadBuf : public ReadBufWindow {
 public:
  // Over initialized memory (everything counts as initialized).
  explicit BorrowedReadBuf(std::span<std::byte> initialized) {
    Reset(initialized.data(), initialized.size(), initialized.size());
  }
  // Over memory that may be uninitialized.
  explicit BorrowedReadBuf(UninitSpan uninitialized) {
    Reset(static_cast<std::byte*>(uninitialized.write_ptr()),
          uninitialized.size(), 0);
  }
};

}  // namespace readbuf

#endif  // READBUF_BUF_BORROWED_READ_BUF_H_
