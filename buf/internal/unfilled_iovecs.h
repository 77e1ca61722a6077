// -----------------------------------------------------------------------------
// File: buf/internal/unfilled_iovecs.h
// -----------------------------------------------------------------------------
//
// UnfilledIovecs: the free space a ReadBuf offers for one read, as iovecs
// for readv/recvmsg or an io_uring op: every segment of a vectored buffer,
// the one unfilled span of any other. Shared by io/read_into.h and the
// driver's read operations (io/driver_ops.h). Writes nothing into the
// buffer; the caller advances it by what the read returned.

#ifndef READBUF_BUF_INTERNAL_UNFILLED_IOVECS_H_
#define READBUF_BUF_INTERNAL_UNFILLED_IOVECS_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>

#include "buf/read_buf.h"

namespace readbuf {
namespace buf_internal {

// Fills `out` with `buf`'s unfilled space, at most `max` bytes in total when
// max != 0 (the last iovec is shortened). Returns the iovec count (at most
// out.size()) and sets `offered` to their total length.
// REQUIRES: a deferring buffer was prepare()d (else it offers nothing).
template <ReadBuf B>
std::size_t UnfilledIovecs(B& buf, std::size_t max, std::span<iovec> out, std::size_t& offered) {
  std::size_t count = 0;
  if constexpr (VectoredReadBuf<B>) {
    count = buf.unfilled_iovecs(out);
  } else {
    UninitSpan dst = buf.unfilled();
    if (!dst.empty() && !out.empty()) {
      out[0] = dst.as_iovec();
      count = 1;
    }
  }
  offered = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (max != 0 && offered + out[i].iov_len > max) {
      out[i].iov_len = max - offered;
      offered = max;
      return out[i].iov_len == 0 ? i : i + 1;
    }
    offered += out[i].iov_len;
  }
  return count;
}

}  // namespace buf_internal
}  // namespace readbuf

#endif  // READBUF_BUF_INTERNAL_UNFILLED_IOVECS_H_
