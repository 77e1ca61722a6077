// -----------------------------------------------------------------------------
// File: io/graceful_close.h
// -----------------------------------------------------------------------------
//
// graceful_close(stream, linger): closes a connection so that what was sent
// reaches the peer. Closing a TCP socket that still has unread input makes
// the kernel send RST instead of FIN, and a peer that receives the RST may
// throw away our last response before reading it (an HTTP 431 or 400, say).
// So: shutdown(SHUT_WR) first (the peer reads our bytes, then EOF), then read
// and discard what the peer still sends until its EOF or until `linger`
// passes, then close. The lingering costs no memory while the peer is quiet:
// the reads take a pool block (Pooled) only when bytes arrive.
//
// Example:
//
//   co_await conn.write_all(kRequestHeaderFieldsTooLarge);
//   absl::Status s = co_await readbuf::graceful_close(conn, absl::Seconds(2));
//
// Returns OK once the peer's EOF arrived; DeadlineExceeded if `linger`
// passed first; the error if shutdown or a read failed (a reset, say). The
// stream is closed in every case, also when the Task is cancelled (then
// without waiting: plain close).
// REQUIRES: on the stream's core; `stream` outlives the Task.

#ifndef READBUF_IO_GRACEFUL_CLOSE_H_
#define READBUF_IO_GRACEFUL_CLOSE_H_

#include <sys/socket.h>

#include <concepts>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "buf/pooled.h"
#include "io/read_into.h"
#include "io/task.h"
#include "io/timer.h"

namespace readbuf {

namespace io_internal {

template <HasAsyncFd S>
Task<absl::Status> DiscardToEof(S& stream) {
  Pooled buf(16 * 1024);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(stream, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    buf.clear();
  }
}

}  // namespace io_internal

template <class S>
  requires HasAsyncFd<S> && requires(S& s) {
    { s.shutdown(SHUT_WR) } -> std::same_as<absl::Status>;
    s.close();
  }
Task<absl::Status> graceful_close(S& stream, absl::Duration linger = absl::Seconds(2)) {
  const absl::Cleanup close = [&stream] { stream.close(); };
  if (absl::Status s = stream.shutdown(SHUT_WR); !s.ok()) co_return s;
  co_return co_await timeout(io_internal::DiscardToEof(stream), linger);
}

}  // namespace readbuf

#endif  // READBUF_IO_GRACEFUL_CLOSE_H_
