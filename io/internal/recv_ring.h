// -----------------------------------------------------------------------------
// File: io/internal/recv_ring.h
// -----------------------------------------------------------------------------
//
// The seam between io/ring_read.h / io/pooled_ops.h and a backend that can
// receive through an io_uring provided-buffer ring. Only the io_uring backend
// implements RecvRing (Backend::recv_ring() is null elsewhere); the public
// face is io/ring_read.h.
//
// Model: one ring of pool blocks per core, shared by every connection of the
// core. A connection that reads through it gets a RecvConn and one multishot
// recv (IOSQE_BUFFER_SELECT) that stays armed for its life. Each completion's
// buffer is taken out of the ring as PoolBytes of exactly the bytes received
// (no copy), queued on the connection, and its ring slot is refilled at once
// with a fresh block from the core's BufferPool. A read pops the queue.
//
// Thread safety: everything here runs on the owning core's thread.

#ifndef READBUF_IO_INTERNAL_RECV_RING_H_
#define READBUF_IO_INTERNAL_RECV_RING_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "buf/pool_bytes.h"
#include "io/internal/core.h"

namespace readbuf {

// RecvRingOptions
//
// Settings of a core's provided-buffer ring. The ring costs
// `entries * buffer_size` bytes of pool memory per io_uring core (4 MiB with
// the defaults), plus `large_entries * large_buffer_size` (2 MiB) once a
// connection streams, independent of how many connections the core serves;
// an idle connection holds none of it.
struct RecvRingOptions {
  // Use the ring where the kernel supports it. The environment variable
  // READBUF_RECV_RING=0 (or off/false/no) turns it off process-wide, which
  // selects the readiness path (the one epoll uses).
  // Default: true.
  bool enabled = true;
  // Buffers in the ring: a power of two in [1, 32768].
  // Default: 256.
  std::uint32_t entries = 256;
  // Bytes per buffer: the most one completion delivers. In [64, 1 MiB].
  // Default: 16 KiB.
  std::size_t buffer_size = 16 * 1024;
  // A second group of larger buffers for connections whose completions keep
  // filling `buffer_size` (streams): fewer, larger completions and writes.
  // Registered when the first connection needs it; each connection moves
  // between the groups by its AdaptiveReadSize. 0 turns it off; otherwise in
  // (buffer_size, 1 MiB]. Default: 128 KiB, the most a readiness read of
  // `Pooled` grows to: a stream echoed from 64 KiB buffers made 1.12 sends
  // per chunk against `Pooled`'s 0.75 and cost 1.07-1.14x its CPU
  // (BENCHMARKS.md section 5).
  std::size_t large_buffer_size = 128 * 1024;
  // Buffers in the large group: a power of two in [1, 32768]. Default: 16
  // (2 MiB with the default size).
  std::uint32_t large_entries = 16;
  // Received bytes one connection may have queued (taken from the ring, not
  // yet read by its task). Past this the connection's multishot recv is
  // cancelled, so further data waits in the kernel's socket buffer and TCP
  // flow control slows the sender; the recv is re-armed once the task has
  // read the queue. Bounds the memory a fast sender to a slow reader can pin.
  // At least buffer_size. Default: 256 KiB.
  std::size_t max_queued_bytes_per_connection = 256 * 1024;
};

// RecvRingStats
//
// Counters of one core's ring (see recv_ring_stats() in io/ring_read.h).
struct RecvRingStats {
  bool active = false;              // a ring is registered on this core
  std::uint32_t buffers = 0;        // small-group entries
  std::size_t buffer_size = 0;      // capacity of each small buffer
  std::uint32_t buffers_in_ring = 0;  // filled slots the kernel may pick (both groups)
  std::size_t bytes_registered = 0;   // pool bytes those slots hold (both groups)
  std::uint64_t recvs_in_flight = 0;  // armed (or cancelling) multishot recvs
  std::uint64_t connections = 0;      // connections with ring state
  std::uint64_t queued_buffers = 0;   // received, not yet returned by a read
  std::uint64_t queued_bytes = 0;     // the bytes those hold
  std::size_t queued_pool_bytes = 0;  // pool bytes (block capacity) they hold
  std::uint64_t completions = 0;      // data completions
  std::uint64_t bytes_received = 0;
  std::uint64_t arms = 0;             // multishot recv SQEs submitted
  std::uint64_t enobufs = 0;          // recvs ended by an empty ring
  std::uint64_t fallback_reads = 0;   // readiness reads after ENOBUFS
  std::uint64_t refill_failures = 0;  // slots left empty (pool refused)
  std::uint64_t queue_cap_pauses = 0;  // recvs paused at max_queued_bytes_per_connection
  std::uint32_t large_buffers = 0;      // entries of the large group (0: not registered)
  std::size_t large_buffer_size = 0;
  std::uint64_t group_switches = 0;     // connections moved between the groups
  // Core-loop waits that asked the kernel for more than one completion (one
  // per armed recv once 16 are armed, held back at most 20 us; Linux 6.12+).
  std::uint64_t batched_waits = 0;
  // Ring connections whose socket is in the ring's registered-file table
  // now, and those that found the table full or refused (they use the fd).
  std::uint64_t registered_files = 0;
  std::uint64_t file_registration_failures = 0;
};

namespace io_internal {

struct RecvConn;

// The result of RecvRing::Take.
enum class RecvTake : std::uint8_t {
  kData,      // `out` holds the next bytes
  kWait,      // nothing yet: wait (SetWaiter) and Take again
  kEof,       // the peer closed; sticky
  kError,     // `error` holds the recv error (reported once)
  kFallback,  // read once through the readiness path, then EndFallback()
};

class RecvRing {
 public:
  // The connection state for `fs`, created on first use (which also
  // registers the ring lazily). Null when the ring cannot be used on this
  // core: disabled, unsupported by the kernel, or registration failed.
  // REQUIRES: fs is registered with this core's backend.
  virtual RecvConn* Attach(FdState* fs) = 0;

  // Takes the next received bytes without waiting, at most `max` (0 = no
  // limit) of them. Arms the multishot recv when none is in flight.
  virtual RecvTake Take(RecvConn* c, std::size_t max, PoolBytes* out,
                        absl::Status* error) = 0;

  // Resumes `node` at the next completion for `c`.
  // REQUIRES: Take() returned kWait; no other waiter.
  virtual void SetWaiter(RecvConn* c, RunNode* node) = 0;

  // The waiting task went away: forgets `node` (if still set) and cancels the
  // multishot recv. Bytes that still complete are kept for the next read.
  virtual void AbandonWait(RecvConn* c, RunNode* node) = 0;

  // The readiness read that Take() asked for (kFallback) is done; the next
  // Take re-arms the multishot recv.
  virtual void EndFallback(RecvConn* c) = 0;

  // Options for this core's ring. FailedPrecondition once the ring exists.
  virtual absl::Status Configure(const RecvRingOptions& options) = 0;

  virtual RecvRingStats Stats() = 0;

 protected:
  ~RecvRing() = default;
};

// Process-wide defaults, read by each core when it creates its ring.
// Thread safety: any thread.
void SetDefaultRecvRingOptions(const RecvRingOptions& options);
RecvRingOptions DefaultRecvRingOptions();

// InvalidArgument unless `options` are in range.
absl::Status ValidateRecvRingOptions(const RecvRingOptions& options);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_RECV_RING_H_
