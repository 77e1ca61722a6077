// -----------------------------------------------------------------------------
// File: io/internal/consume_iovecs.h
// -----------------------------------------------------------------------------
//
// The bookkeeping of every writev loop over short writes: after a write took
// `n` bytes, drop them from the front of the iovecs. Shared by writev_all
// (io/writer_concepts.h), write_filled (io/read_into.h) and the fd write
// loops (io/internal/fd_ops.cc), so each keeps only its own error policy.

#ifndef READBUF_IO_INTERNAL_CONSUME_IOVECS_H_
#define READBUF_IO_INTERNAL_CONSUME_IOVECS_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <span>

namespace readbuf {
namespace io_internal {

// Consumes `n` written bytes from the front of `iov`: iovecs written in full
// are left at length 0 and the one the write ended in is advanced past its
// written part. Returns the index of the first iovec with bytes left
// (iov.size() when every byte is written), so a caller continues from
// iov.subspan(result). Bytes past the total are ignored. With n == 0 nothing
// changes and the result is 0: refusing zero progress is the caller's policy.
inline std::size_t ConsumeIovecs(std::span<iovec> iov, std::size_t n) {
  std::size_t i = 0;
  while (n != 0 && i < iov.size()) {
    const std::size_t step = std::min(n, iov[i].iov_len);
    iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + step;
    iov[i].iov_len -= step;
    n -= step;
    if (iov[i].iov_len == 0) ++i;
  }
  return i;
}

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_CONSUME_IOVECS_H_
