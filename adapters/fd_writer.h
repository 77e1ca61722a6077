// -----------------------------------------------------------------------------
// File: adapters/fd_writer.h
// -----------------------------------------------------------------------------
//
// FdWriter: a POSIX file descriptor (socket, pipe, file, tty) as a readbuf
// writer (io/writer_concepts.h): write(span) and writev(iovecs), one system
// call each, which may take fewer bytes than offered; write_all and
// writev_all, which take every byte or fail. The symmetric twin of
// adapters/fd_reader.h.
//
//   blocking fd      write/writev block as write(2) does.
//   non-blocking fd  write/writev give WouldBlockError() on EAGAIN;
//                    write_all/writev_all wait for POLLOUT (poll(2)) instead
//                    and carry on, so they finish or fail, never stop halfway.
//
// EINTR is retried inside, never returned. A reader that went away is EPIPE:
// absl::ErrnoToStatus(EPIPE, "write(fd=N)") (code FailedPrecondition) with the
// errno kept as a payload (adapters_internal::ErrnoOf), and it never kills
// the process: sockets are written with send/sendmsg(MSG_NOSIGNAL); for other
// fds (pipes, FIFOs) SIGPIPE is set to ignored process-wide at construction
// if it is still at its default disposition, as io/pipe.h does (a handler the
// application installed is left alone). Other errors are
// absl::ErrnoToStatus(errno, "write(fd=N)") (also "writev", "poll").
//
// System calls go through the `Sys` template parameter (PosixWriteSyscalls
// by default), so tests inject short writes, EINTR, EAGAIN and EPIPE.
//
// Copies: 0 (the kernel reads straight from the caller's memory). The fd is
// borrowed, not closed.
//
// Example:
//
//   readbuf::FdWriter writer(fd);
//   absl::Status s = writer.write_all(std::as_bytes(std::span(text)));
//   iovec iov[2] = {{header, 16}, {body, n}};
//   s = writer.writev_all(iov);                     // writev(2), looped

#ifndef READBUF_ADAPTERS_FD_WRITER_H_
#define READBUF_ADAPTERS_FD_WRITER_H_

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstddef>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "io/io_status.h"
#include "io/writer_concepts.h"

namespace readbuf {

// The real system calls (the default `Sys` of BasicFdWriter).
struct PosixWriteSyscalls {
  ssize_t write(int fd, const void* data, size_t size) {
    return ::write(fd, data, size);
  }
  ssize_t writev(int fd, const iovec* iov, int count) {
    return ::writev(fd, iov, count);
  }
  ssize_t send(int fd, const void* data, size_t size, int flags) {
    return ::send(fd, data, size, flags);
  }
  ssize_t sendmsg(int fd, const msghdr* message, int flags) {
    return ::sendmsg(fd, message, flags);
  }
  // Waits until `fd` is writable (or has an error, or hung up: the next
  // write will not block). 0 = ready, -1 = error (errno set).
  int wait_writable(int fd) {
    pollfd p{fd, POLLOUT, 0};
    return ::poll(&p, 1, -1) < 0 ? -1 : 0;
  }
  bool nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
  }
  bool is_socket(int fd) {
    struct stat st;
    return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  }
  // SIGPIPE to SIG_IGN if it is still SIG_DFL (process-wide).
  void ignore_sigpipe() {
    struct sigaction old;
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  }
};

// BasicFdWriter<Sys>
//
// Thread safety: distinct objects are safe; one object is not (and two
// writers of one fd interleave as write(2) calls do).
template <class Sys = PosixWriteSyscalls>
class BasicFdWriter {
 public:
  // Borrows `fd` (not closed). Whether it is a socket and whether it is
  // non-blocking are read once, here (fstat, fcntl(F_GETFL)); a non-socket
  // fd makes SIGPIPE ignored if it is at its default (see the file comment).
  explicit BasicFdWriter(int fd, Sys sys = Sys())
      : fd_(fd),
        sys_(std::move(sys)),
        nonblocking_(sys_.nonblocking(fd)),
        socket_(sys_.is_socket(fd)) {
    if (!socket_) sys_.ignore_sigpipe();
  }

  int fd() const { return fd_; }
  bool is_socket() const { return socket_; }
  Sys& syscalls() { return sys_; }

  // One write(2) (send(MSG_NOSIGNAL) on a socket) from the front of `data`.
  // Returns the bytes taken, possibly fewer than data.size(); 0 only for
  // empty `data`.
  // Errors: WouldBlockError() (non-blocking fd, no room now); EPIPE and the
  // rest as absl::ErrnoToStatus(errno, "write(fd=N)").
  absl::StatusOr<size_t> write(std::span<const std::byte> data) {
    for (;;) {
      const ssize_t n = socket_
                            ? sys_.send(fd_, data.data(), data.size(), MSG_NOSIGNAL)
                            : sys_.write(fd_, data.data(), data.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return Error(errno, "write");
    }
  }

  // One writev(2) (sendmsg(MSG_NOSIGNAL) on a socket) over at most IOV_MAX
  // regions, in order. Returns the bytes taken, possibly fewer than offered.
  // Errors: as write(), named "writev(fd=N)".
  absl::StatusOr<size_t> writev(std::span<const iovec> iov) {
    const size_t count = std::min<size_t>(iov.size(), IOV_MAX);
    for (;;) {
      ssize_t n;
      if (socket_) {
        msghdr message{};
        message.msg_iov = const_cast<iovec*>(iov.data());  // not written
        message.msg_iovlen = count;
        n = sys_.sendmsg(fd_, &message, MSG_NOSIGNAL);
      } else {
        n = sys_.writev(fd_, iov.data(), static_cast<int>(count));
      }
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return Error(errno, "writev");
    }
  }

  // Writes every byte of `data`, looping over short writes; on a
  // non-blocking fd it waits for room (poll) rather than returning
  // WouldBlockError().
  // Errors: the first write error (EPIPE, ...); the bytes before it were
  // written.
  absl::Status write_all(std::span<const std::byte> data) {
    Waiting waiting{this};
    return readbuf::write_all(waiting, data);
  }

  // Writes every byte of the iovecs in order with writev, looping over short
  // writes (`iov` is not modified); waits for room on a non-blocking fd.
  // Errors: as write_all().
  absl::Status writev_all(std::span<const iovec> iov) {
    Waiting waiting{this};
    return readbuf::writev_all(waiting, iov);
  }

 private:
  // This writer with EAGAIN turned into a wait for POLLOUT: the face that
  // write_all / writev_all (io/writer_concepts.h) loop over.
  struct Waiting {
    BasicFdWriter* writer;
    absl::StatusOr<size_t> write(std::span<const std::byte> data) {
      return writer->WaitingCall([&] { return writer->write(data); });
    }
    absl::StatusOr<size_t> writev(std::span<const iovec> iov) {
      return writer->WaitingCall([&] { return writer->writev(iov); });
    }
  };

  template <class F>
  absl::StatusOr<size_t> WaitingCall(F call) {
    for (;;) {
      absl::StatusOr<size_t> n = call();
      if (n.ok() || !nonblocking_ || !IsWouldBlock(n.status())) return n;
      while (sys_.wait_writable(fd_) < 0) {
        if (errno != EINTR) return Error(errno, "poll");
      }
    }
  }

  absl::Status Error(int error_number, const char* operation) const {
    if (nonblocking_ && (error_number == EAGAIN || error_number == EWOULDBLOCK)) {
      return WouldBlockError();
    }
    return adapters_internal::FdCallError(error_number, operation, fd_);
  }

  int fd_;
  Sys sys_;
  bool nonblocking_;
  bool socket_;
};

using FdWriter = BasicFdWriter<>;

static_assert(SpanWriter<FdWriter> && VectoredWriter<FdWriter>);

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_FD_WRITER_H_
