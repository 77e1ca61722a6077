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
// Readiness is tracked per fd and is optimistic: a new fd counts as readable
// and writable until an operation reports EAGAIN, which the caller records
// with mark_not_readable()/mark_not_writable(). A read that returned fewer
// bytes than asked has drained the socket buffer; mark_drained() records that
// so the next read waits for the next edge instead of calling read() just to
// see EAGAIN. After the peer hangs up the fd stays readable (reads return 0).
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
    ReadinessAwaiter(const ReadinessAwaiter&) = delete;
    ReadinessAwaiter& operator=(const ReadinessAwaiter&) = delete;
    ~ReadinessAwaiter();
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    absl::Status await_resume() { return std::move(status_); }

   private:
    io_internal::RunNode*& slot() {
      return write_ ? fs_->write_waiter : fs_->read_waiter;
    }
    io_internal::FdState* fs_;
    bool write_;
    bool waiting_ = false;
    absl::Status status_;
    io_internal::RunNode run_;
  };

  // `co_await fd.readable()` returns once the fd is (believed) readable, or
  // with an error status if it cannot be registered with the backend.
  // REQUIRES: valid(); on a reactor core; no other task awaiting readable().
  ReadinessAwaiter readable() { return ReadinessAwaiter(fs_, false); }
  // Same for writability.
  ReadinessAwaiter writable() { return ReadinessAwaiter(fs_, true); }

  // Cached readiness (no syscall).
  bool is_readable() const { return fs_->readable; }
  bool is_writable() const { return fs_->writable; }
  // True once the peer hung up or the fd reported an error.
  bool hung_up() const { return fs_->hangup; }

  // Record EAGAIN from a read / write: the next wait blocks until an edge.
  void mark_not_readable() {
    if (!fs_->hangup) fs_->readable = false;
  }
  void mark_not_writable() {
    if (!fs_->hangup) fs_->writable = false;
  }
  // Short-read shortcut: a read that returned fewer bytes than asked drained
  // the kernel buffer, so the next read waits for an edge first.
  void mark_drained() { mark_not_readable(); }

  // Deregisters and closes the fd. Idempotent.
  // REQUIRES: no task is waiting on this fd.
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
