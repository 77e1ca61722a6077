// -----------------------------------------------------------------------------
// File: io/internal/resolve_backend.h
// -----------------------------------------------------------------------------
//
// The one rule that turns a requested BackendKind into the backend to try,
// shared by the Runtime's cores and the Driver (io/driver.h): an explicit
// choice wins, kAuto reads READBUF_BACKEND (epoll | uring | io_uring) and
// otherwise means io_uring. A caller that cannot set up io_uring falls back
// to epoll and says why. Thread safety: reads the environment only.

#ifndef READBUF_IO_INTERNAL_RESOLVE_BACKEND_H_
#define READBUF_IO_INTERNAL_RESOLVE_BACKEND_H_

#include "io/runtime.h"

namespace readbuf {
namespace io_internal {

// kEpoll, kUring, or kAuto (= try io_uring). CHECK-fails on a
// READBUF_BACKEND value other than epoll, uring or io_uring.
BackendKind ResolveBackendKind(BackendKind requested);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_RESOLVE_BACKEND_H_
