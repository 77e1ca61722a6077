// -----------------------------------------------------------------------------
// File: io/async_fd.h
// -----------------------------------------------------------------------------
//
// AsyncFd owns a non-blocking file descriptor and lets a task wait for it to
// become readable or writable on the current core's backend. It is the
// readiness layer under TcpStream, Pipe and friends, and the hook for
// adapters that bring their own read/write calls.
//
// Registration happens once per fd, lazily, the first time a task must wait
// (edge-triggered: EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET on epoll).
// Readiness is tracked per direction and is optimistic: a new fd counts as
// readable and writable until an operation reports EAGAIN, which the caller
// records with mark_not_readable()/mark_not_writable(); the next wait then
// suspends until an edge, always (io/internal/fd_state.h). A peer that
// half-closes makes the fd readable (reads return 0), not writable: a write
// to a peer that never reads waits. On a stream socket or pipe, a read that
// returned fewer bytes than asked has drained the kernel buffer;
// mark_drained() records that so the next read waits for the next edge
// instead of calling read() just to see EAGAIN. On other fds (datagram and
// seqpacket sockets, TTYs) it does nothing: they are read until EAGAIN.
//
// Closing an AsyncFd while a task waits on it wakes that task: its wait ends
// with absl::CancelledError naming the fd (as Asio's operation_aborted).
//
// Example:
//
//   readbuf::AsyncFd fd(sock);   // takes ownership
//   for (;;) {
//     if (absl::Status s = co_await fd.readable(); !s.ok()) co_return s;
//     ssize_t n = ::read(fd.fd(), buf, sizeof(buf));
//     if (n < 0 && errno == EAGAIN) { fd.mark_not_readable(); continue; }
//     if (n >= 0 && size_t(n) < sizeof(buf)) fd.mark_drained();
//     ...
//   }
//
// Thread safety: an AsyncFd is used on one core (the one it registered with);
// at most one task waits for readability and one for writability at a time.
// It may be destroyed on any thread; off-core, the close is handed to its
// core (or done directly once the runtime has shut down).

#ifndef READBUF_IO_ASYNC_FD_H_
#define READBUF_IO_ASYNC_FD_H_

#include <coroutine>
#include <utility>

#include "absl/status/status.h"
#include "io/internal/core.h"

namespace readbuf {

namespace io_internal {
struct AsyncFdAccess;
}  // namespace io_internal

class AsyncFd {
 public:
  AsyncFd() = default;
  // Takes ownership of `fd`. REQUIRES: fd is non-blocking (O_NONBLOCK).
  explicit AsyncFd(int fd);
  // The same, for an fd known to be a stream socket or a pipe (skips the
  // fstat that classifies other fds for the short-read shortcut).
  static AsyncFd StreamFd(int fd);
  AsyncFd(AsyncFd&& o) noexcept : fs_(std::exchange(o.fs_, nullptr)) {}
  AsyncFd& operator=(AsyncFd&& o) noexcept {
    if (this != &o) {
      close();
      fs_ = std::exchange(o.fs_, nullptr);
    }
    return *this;
  }
  AsyncFd(const AsyncFd&) = delete;
  AsyncFd& operator=(const AsyncFd&) = delete;
  ~AsyncFd() { close(); }

  bool valid() const { return fs_ != nullptr; }
  int fd() const { return fs_ != nullptr ? fs_->fd : -1; }

  class ReadinessAwaiter {
   public:
    ReadinessAwaiter(io_internal::FdState* fs, bool write)
        : fs_(fs), write_(write) {}
    // Movable until awaited (timeout() takes it by value).
    ReadinessAwaiter(ReadinessAwaiter&& o) noexcept : fs_(o.fs_), write_(o.write_) {
      READBUF_DCHECK(!o.hold_.held(), "moving a readiness wait that is waiting");
    }
    ReadinessAwaiter& operator=(ReadinessAwaiter&&) = delete;
    ~ReadinessAwaiter();
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    absl::Status await_resume();

   private:
    io_internal::RunNode*& slot() {
      return write_ ? fs_->write_waiter : fs_->read_waiter;
    }
    io_internal::FdState* fs_;
    bool write_;
    absl::Status status_;
    io_internal::FdHold hold_;  // while suspended
    io_internal::RunNode run_;
  };

  // `co_await fd.readable()` returns once the fd is (believed) readable, or
  // with an error status: FailedPrecondition if the AsyncFd is closed, the
  // backend's error if it cannot be registered, Cancelled if it is closed
  // while waiting.
  // REQUIRES: on a reactor core; no other task awaiting readable().
  ReadinessAwaiter readable() { return ReadinessAwaiter(fs_, false); }
  // Same for writability.
  ReadinessAwaiter writable() { return ReadinessAwaiter(fs_, true); }

  // Cached readiness (no syscall); false once closed.
  bool is_readable() const { return fs_ != nullptr && fs_->readable; }
  bool is_writable() const { return fs_ != nullptr && fs_->writable; }
  // The last event said the peer sends nothing more (RDHUP, HUP).
  bool read_closed() const { return fs_ != nullptr && fs_->read_closed; }
  // The last event said writes cannot succeed (HUP, or an error).
  bool write_closed() const { return fs_ != nullptr && fs_->write_closed; }
  // Either of the two.
  bool hung_up() const { return read_closed() || write_closed(); }

  // Record EAGAIN from a read / write: the next wait suspends until an edge.
  // (Debug builds CHECK-fail when EAGAIN repeats without a suspension in
  // between: a loop that retries EAGAIN in place.)
  void mark_not_readable() {
    if (fs_ != nullptr) fs_->NoteEagain(/*write=*/false);
  }
  void mark_not_writable() {
    if (fs_ != nullptr) fs_->NoteEagain(/*write=*/true);
  }
  // Short-read shortcut: on a stream socket or pipe, a read that returned
  // fewer bytes than asked drained the kernel buffer, so the next read waits
  // for an edge first. No effect on other fds, or once the peer has closed
  // its side (the next read returns 0 at once).
  void mark_drained() {
    if (fs_ != nullptr && !fs_->read_closed && fs_->ShortReadDrains()) fs_->readable = false;
  }

  // Deregisters and closes the fd. Idempotent. A task waiting on it is
  // woken and its operation ends with absl::CancelledError.
  void close();

 private:
  friend struct io_internal::AsyncFdAccess;
  io_internal::FdState* fs_ = nullptr;
};

namespace io_internal {
// For io/ internals that talk to the backend about an fd (the receive ring,
// multishot accept, frameless awaiters).
struct AsyncFdAccess {
  static FdState* State(AsyncFd& fd) { return fd.fs_; }
};


// Registers `fs` with the calling core's backend unless it already is.
// REQUIRES: on a core; `fs` not registered with another core (CHECKed).
// Errors: the backend's registration error.
absl::Status RegisterOnThisCore(FdState* fs);
}  // namespace io_internal

}  // namespace readbuf

#endif  // READBUF_IO_ASYNC_FD_H_
