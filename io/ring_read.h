// -----------------------------------------------------------------------------
// File: io/ring_read.h
// -----------------------------------------------------------------------------
//
// Receiving through the core's io_uring provided-buffer ring: the kernel
// picks a buffer from one per-core pool of buffers only when data arrives, so
// an idle connection holds no buffer, and the bytes reach the reader in the
// block the kernel wrote (no copy). `pooled_read` and `pooled_read_callback`
// (io/pooled_ops.h) use this path by themselves whenever the stream's core
// runs io_uring with a ring; this header is where the ring is configured and
// observed. Other cores, and kernels without provided rings (< 5.19) or
// multishot recv (< 6.0), use the readiness path (io/read_into.h).
//
// How it works: one ring of `entries` pool blocks per io_uring core, shared
// by all its connections and registered on its first use. A connection gets
// one multishot recv (IOSQE_BUFFER_SELECT) for its life, re-armed only when
// the kernel ends it. Each completion's block is handed out as PoolBytes of
// exactly the bytes received and its ring slot is refilled with a fresh pool
// block at once, so PoolBytes stays a plain owner (no slot to give back).
// Completions that arrive before the connection reads are queued on it, in
// order. When the ring runs dry the kernel ends the recv with ENOBUFS; the
// next read then goes once through the readiness path into pool memory
// (read_into with Pooled), which cannot reorder bytes because no recv is
// armed meanwhile, and the recv is re-armed after it.
//
// Memory: `entries * buffer_size` pool bytes per io_uring core (4 MiB with
// the defaults) and, once a connection streams, the large group's
// `large_entries * large_buffer_size` (2 MiB), not per connection, plus
// bytes received and not yet read.
// Copies: none, except when a read asks for fewer bytes (`max`) than a
// completion holds: that prefix is copied into a new pool block.
// Limit: the recv reads ahead of the reader (up to
// max_queued_bytes_per_connection), and those bytes belong to the core. If
// the core exits (its Runtime ends) while the connection is open, bytes
// received and not yet read are dropped: an fd that outlives its Runtime
// must not be read again elsewhere.
//
// Example:
//
//   readbuf::RecvRingOptions ring;
//   ring.entries = 1024;
//   readbuf::SetDefaultRecvRingOptions(ring);   // before the Runtime starts
//   ...
//   // On a core, later:
//   readbuf::RecvRingStats st = readbuf::recv_ring_stats();
//   std::printf("ENOBUFS %llu\n", (unsigned long long)st.enobufs);

#ifndef READBUF_IO_RING_READ_H_
#define READBUF_IO_RING_READ_H_

#include <cstddef>

#include "absl/status/status.h"
#include "buf/pool_bytes.h"
#include "io/async_fd.h"
#include "io/internal/core.h"
#include "io/internal/recv_ring.h"

namespace readbuf {

// RecvRingOptions and RecvRingStats are defined in io/internal/recv_ring.h
// (the reactor reads them) and are part of this header's API.

// Sets the options every core uses when it creates its ring (cores that
// already have one keep theirs). Thread safety: any thread.
// Errors: InvalidArgument for out-of-range options.
absl::Status SetDefaultRecvRingOptions(const RecvRingOptions& options);

// Sets the options of the calling core's ring.
// REQUIRES: on a reactor core.
// Errors: InvalidArgument; FailedPrecondition once the core's ring exists
// (or was found unusable); Unavailable on a core without io_uring.
absl::Status ConfigureRecvRing(const RecvRingOptions& options);

// The calling core's ring counters; all zero (active == false) on a core
// without a ring. REQUIRES: on a reactor core.
RecvRingStats recv_ring_stats();

namespace io_internal {

// A connection's handle on its core's ring; empty when the ring path does
// not apply.
struct RingConn {
  RecvRing* ring = nullptr;
  RecvConn* conn = nullptr;
  explicit operator bool() const { return conn != nullptr; }
};

// The ring handle for `fd` on the calling core: registers the fd with the
// core first if needed. Empty (use the readiness path) off-core, on a core
// without a usable ring, for an fd of another core, or if registration fails.
RingConn AttachRing(AsyncFd& fd);

struct RingResult {
  RecvTake kind;
  PoolBytes bytes;     // kData
  absl::Status error;  // kError
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_RING_READ_H_
