// -----------------------------------------------------------------------------
// File: io/io_status.h
// -----------------------------------------------------------------------------
//
// The "would block" status of readbuf's non-blocking readers and writers.
// Errors from the kernel are `absl::ErrnoToStatus(errno, "read(fd=7)")`
// everywhere in readbuf: the code follows the errno and the message names the
// operation. EOF is not an error: a read that returns 0 bytes for a non-empty
// request is EOF.
//
//   WouldBlockError()     "no data now; try again after readiness". Only the
//                         non-blocking calls (try_read(), a non-blocking fd)
//                         return it.
//   IsWouldBlock(status)  recognises it, and only it: an EAGAIN turned into a
//                         status by other code stays a plain Unavailable error.

#ifndef READBUF_IO_IO_STATUS_H_
#define READBUF_IO_IO_STATUS_H_

#include "absl/status/status.h"

namespace readbuf {

absl::Status WouldBlockError();
bool IsWouldBlock(const absl::Status& status);

}  // namespace readbuf

#endif  // READBUF_IO_IO_STATUS_H_
