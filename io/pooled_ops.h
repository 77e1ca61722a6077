// -----------------------------------------------------------------------------
// File: io/pooled_ops.h
// -----------------------------------------------------------------------------
//
// Deferred reads, end to end: memory is taken from the calling core's
// BufferPool only after the source is readable, and given back as soon as
// the data is consumed, so a connection waiting for data holds none.
//
//   pooled_read(stream, max)              -> PoolBytes, exactly the bytes read,
//                                            in the pool block the kernel wrote
//                                            (no copy); nullopt at EOF
//   pooled_read_callback(stream, max, fn) -> fn sees the bytes as a borrowed
//                                            span; the block goes back to the
//                                            pool when fn returns (no heap
//                                            allocation in steady state)
//   pooled_copy(src, dst)                 -> every byte of src written to dst;
//                                            splice(2) through a pipe when both
//                                            are plain fds (no user-space copy),
//                                            else pool blocks and partial-write
//                                            handling; returns the byte count
//
// On a core running io_uring, pooled_read and pooled_read_callback receive
// through the core's provided-buffer ring (io/ring_read.h): the kernel picks
// a pool block from one per-core ring only when data arrives, one multishot
// recv serves the connection's whole life, and the block comes back as the
// PoolBytes (still no copy). Same signatures and results; when the ring is
// exhausted (ENOBUFS) one read goes through the readiness path instead, in
// order. Once a stream has been read this way, read it only through these two
// functions (its multishot recv stays armed between reads).
//
// Example:
//
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       co_await readbuf::pooled_read(conn, 64 * 1024);
//   if (bytes.ok() && *bytes) Handle((*bytes)->span());

#ifndef READBUF_IO_POOLED_OPS_H_
#define READBUF_IO_POOLED_OPS_H_

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "io/internal/pooled_read_awaiter.h"
#include "io/read_into.h"
#include "io/ring_read.h"
#include "io/task.h"
#include "io/writer_concepts.h"

namespace readbuf {

// Waits for data on `stream`, then reads at most `max` bytes (0 = the
// adaptive default, up to 128 KiB; on the ring path, one ring buffer) into a
// block from this core's pool; `co_await` it. Returns exactly the bytes
// read, owning the block; nullopt at EOF. The awaitable has no coroutine
// frame: a pending read costs a few hundred bytes inside the caller's frame.
// Errors: as read_into (e.g. ResourceExhausted when the pool's cap is hit);
// on the ring path the recv's errno as "recv(fd=N)".
// REQUIRES: on the stream's core; `stream` outlives the co_await.
template <HasAsyncFd S>
io_internal::PooledReadAwaiter pooled_read(S& stream, size_t max = 0) {
  return io_internal::PooledReadAwaiter(stream.async_fd(), max);
}

// Waits for data, reads at most `max` bytes into a pool block, and calls
// `fn(std::span<const std::byte>)` with them. The block returns to the pool
// when fn returns. Returns the bytes passed to fn; 0 at EOF (fn not called).
// `fn` must not keep the span. `co_await` it; no coroutine frame.
template <HasAsyncFd S, class Fn>
io_internal::PooledReadCallbackAwaiter<Fn> pooled_read_callback(S& stream, size_t max, Fn fn) {
  return io_internal::PooledReadCallbackAwaiter<Fn>(stream.async_fd(), max, std::move(fn));
}

struct PooledCopyOptions {
  // Use splice(2) when both ends expose an fd. Default: true.
  bool allow_splice = true;
  // Largest read (pool block) per step. Default: 64 KiB.
  size_t max_chunk = 64 * 1024;
};

namespace io_internal {

// splice(2) src -> pipe -> dst, all non-blocking, waiting on readiness;
// `*total` counts the bytes that reached dst as they go. Returns true at
// src's EOF, false (with nothing moved) when the kernel refuses splice for
// these fds (EINVAL), so the caller can fall back.
template <HasAsyncFd Src, HasAsyncFd Dst>
Task<absl::StatusOr<bool>> SpliceCopy(Src& src, Dst& dst, size_t chunk, uint64_t* total) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    co_return absl::ErrnoToStatus(errno, "pipe2 (for splice)");
  }
  const absl::Cleanup close_pipe = [&] {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
  };
  AsyncFd& in = src.async_fd();
  AsyncFd& out = dst.async_fd();
  for (;;) {
    // Fill the pipe from the source.
    ssize_t got;
    for (;;) {
      if (!in.valid()) co_return absl::FailedPreconditionError("splice: the source is closed");
      got = ::splice(in.fd(), nullptr, pipe_fds[1], nullptr, chunk,
                     SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (got >= 0) break;
      if (errno == EINTR) continue;
      if (errno == EINVAL && *total == 0) co_return false;  // not spliceable
      if (errno != EAGAIN) {
        co_return absl::ErrnoToStatus(errno, absl::StrCat("splice(fd=", in.fd(), " -> pipe)"));
      }
      in.mark_not_readable();
      if (absl::Status ready = co_await in.readable(); !ready.ok()) co_return ready;
    }
    if (got == 0) co_return true;  // EOF
    // Drain the pipe into the destination.
    size_t left = static_cast<size_t>(got);
    while (left != 0) {
      if (!out.valid()) co_return absl::FailedPreconditionError("splice: the destination is closed");
      const ssize_t put = ::splice(pipe_fds[0], nullptr, out.fd(), nullptr, left,
                                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (put > 0) {
        left -= static_cast<size_t>(put);
        *total += static_cast<uint64_t>(put);
        continue;
      }
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && errno == EAGAIN) {
        out.mark_not_writable();
        if (absl::Status ready = co_await out.writable(); !ready.ok()) co_return ready;
        continue;
      }
      co_return absl::ErrnoToStatus(put < 0 ? errno : EPIPE,
                                    absl::StrCat("splice(pipe -> fd=", out.fd(), ")"));
    }
  }
}

inline absl::Status ValidateCopyOptions(const PooledCopyOptions& options) {
  if (options.max_chunk == 0 || options.max_chunk > BufferPool::kMaxPooledBlockSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pooled_copy: PooledCopyOptions.max_chunk=", options.max_chunk, ": must be in [1, ",
        BufferPool::kMaxPooledBlockSize, "]"));
  }
  return absl::OkStatus();
}

// The body of pooled_copy: copies src to dst until EOF; `*total` counts the
// bytes that reached dst as they go (so it is right whatever the outcome,
// cancellation included).
template <HasAsyncFd Src, class Dst>
  requires AsyncSpanWriter<Dst>
Task<absl::Status> CopyCounting(Src& src, Dst& dst, PooledCopyOptions options, uint64_t* total) {
  if constexpr (HasAsyncFd<Dst>) {
    if (options.allow_splice) {
      absl::StatusOr<bool> spliced = co_await SpliceCopy(src, dst, options.max_chunk, total);
      if (!spliced.ok()) co_return spliced.status();
      if (*spliced) co_return absl::OkStatus();
    }
  }
  Pooled buf(options.max_chunk);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(src, buf, options.max_chunk);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    std::span<const std::byte> pending = buf.filled();
    while (!pending.empty()) {
      absl::StatusOr<size_t> w = co_await dst.write(pending);
      if (!w.ok()) co_return w.status();
      if (*w == 0) co_return absl::InternalError("pooled_copy: writer accepted 0 bytes");
      pending = pending.subspan(*w);
      *total += *w;
    }
    buf.clear();
  }
}

}  // namespace io_internal

// Copies everything `src` delivers until EOF into `dst`; returns the bytes
// copied. With plain fds on both sides (sockets, pipes) it uses splice(2):
// the bytes never enter user space. Otherwise each step waits for data,
// reads into a pool block (nothing held while waiting), and writes the block
// out completely -- partial writes and back-pressure included -- before the
// next read, so no byte is lost or duplicated. `dst` is not closed.
// Errors: InvalidArgument for options.max_chunk outside [1, 1 MiB]; the
// first read or write error, whose message ends with "(after N bytes
// copied)": those N bytes are gone to dst.
// Cancellation: stops at the point where it waits; bytes already written
// stay written (copy_bidirectional reports how many).
// REQUIRES: on the core of both streams; both outlive the Task.
template <HasAsyncFd Src, class Dst>
  requires AsyncSpanWriter<Dst>
Task<absl::StatusOr<uint64_t>> pooled_copy(Src& src, Dst& dst, PooledCopyOptions options = {}) {
  if (absl::Status s = io_internal::ValidateCopyOptions(options); !s.ok()) co_return s;
  uint64_t total = 0;
  absl::Status s = co_await io_internal::CopyCounting(src, dst, options, &total);
  if (!s.ok()) {
    co_return absl::Status(s.code(), absl::StrCat(s.message(), " (after ", total, " bytes copied)"));
  }
  co_return total;
}

}  // namespace readbuf

#endif  // READBUF_IO_POOLED_OPS_H_
