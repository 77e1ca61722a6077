// -----------------------------------------------------------------------------
// File: adapters/fd_reader.h
// -----------------------------------------------------------------------------
//
// FdReader: a POSIX file descriptor (socket, pipe, file, tty) as a readbuf
// reader with every synchronous capability the fd has: read(span),
// read_buf(b) (the kernel writes straight into the buffer's unfilled,
// possibly uninitialized memory -- nothing is zeroed), readv(iovecs) and
// try_read(b).
//
//   blocking fd      read/read_buf/readv block as read(2) does; try_read()
//                    first polls (timeout 0) and gives WouldBlockError() when
//                    nothing is ready.
//   non-blocking fd  every call gives WouldBlockError() on EAGAIN.
//
// EINTR is retried inside, never returned. Other errors are
// absl::ErrnoToStatus(errno, "read(fd=N)") (also "readv(fd=N)",
// "poll(fd=N)"), with the errno kept as a payload for bridges that need it
// back (adapters/asio_stream.h). EOF is 0 bytes.
//
// System calls go through the `Sys` template parameter (PosixSyscalls by
// default), so tests inject EINTR, EAGAIN and short reads.
//
// Copies: 0. Zeroes: never. The fd is borrowed, not closed.
//
// Example:
//
//   readbuf::FdReader reader(fd);
//   readbuf::Vectored<2> buf({16, 4096});
//   absl::StatusOr<size_t> n = reader.read_buf(buf);   // one readv(2)

#ifndef READBUF_ADAPTERS_FD_READER_H_
#define READBUF_ADAPTERS_FD_READER_H_

#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/errno_status.h"
#include "buf/read_buf.h"
#include "io/io_status.h"

namespace readbuf {

// The real system calls (the default `Sys` of BasicFdReader).
struct PosixSyscalls {
  ssize_t read(int fd, void* data, size_t size) { return ::read(fd, data, size); }
  ssize_t readv(int fd, const iovec* iov, int count) {
    return ::readv(fd, iov, count);
  }
  // 1 = readable (or hang-up/error: a read will not block), 0 = not ready,
  // -1 = error (errno set).
  int poll_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 0);
    return r < 0 ? -1 : (r > 0 ? 1 : 0);
  }
  bool nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
  }
};

// BasicFdReader<Sys>
//
// Thread safety: distinct objects are safe; one object is not (and two
// readers of one fd interleave as read(2) calls do).
template <class Sys = PosixSyscalls>
class BasicFdReader {
 public:
  static constexpr std::string_view kName = "FdReader";
  static constexpr std::string_view kHeader = "adapters/fd_reader.h";
  static constexpr std::string_view kFrom = "POSIX fd (blocking or not)";
  static constexpr std::string_view kTo =
      "`read`, `read_buf`, `readv`, `try_read`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "kernel writes into uninitialized memory; EINTR retried; EAGAIN -> "
      "`WouldBlockError()`";

  // Borrows `fd` (not closed). Whether it is non-blocking is read once,
  // here (fcntl(F_GETFL)).
  explicit BasicFdReader(int fd, Sys sys = Sys())
      : fd_(fd), sys_(std::move(sys)), nonblocking_(sys_.nonblocking(fd)) {}

  int fd() const { return fd_; }
  Sys& syscalls() { return sys_; }

  // One read(2) into the front of `s`. 0 = EOF (or `s` is empty).
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    for (;;) {
      const ssize_t n = sys_.read(fd_, s.data(), s.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return Error(errno, "read");
    }
  }

  // One readv(2) over at most IOV_MAX regions (a short read otherwise).
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    const int count = static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX));
    for (;;) {
      const ssize_t n = sys_.readv(fd_, iov.data(), count);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return Error(errno, "readv");
    }
  }

  // One read(2) (contiguous b) or readv(2) (vectored b) straight into b's
  // unfilled memory; advances b. 0 = EOF, or b is full.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    if (adapters_internal::IsVectored(b)) {
      std::array<iovec, adapters_internal::kMaxIovecs> iov;
      const size_t count = adapters_internal::UnfilledIovecs(b, iov);
      if (count == 0) return 0;
      absl::StatusOr<size_t> n = readv(std::span<const iovec>(iov.data(), count));
      if (n.ok()) b.advance(*n);
      return n;
    }
    UninitSpan dst = b.unfilled();
    if (dst.empty()) return 0;
    for (;;) {
      const ssize_t n = sys_.read(fd_, dst.write_ptr(), dst.size());
      if (n >= 0) {
        b.advance(static_cast<size_t>(n));
        return static_cast<size_t>(n);
      }
      if (errno == EINTR) continue;
      return Error(errno, "read");
    }
  }

  // Like read_buf, but never blocks: WouldBlockError() when nothing is
  // ready. On a blocking fd it polls first (one extra syscall).
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    if (!nonblocking_) {
      for (;;) {
        const int ready = sys_.poll_readable(fd_);
        if (ready > 0) break;
        if (ready == 0) return WouldBlockError();
        if (errno == EINTR) continue;
        return Error(errno, "poll");
      }
    }
    return read_buf(b);
  }

 private:
  absl::Status Error(int error_number, const char* operation) const {
    if (error_number == EAGAIN || error_number == EWOULDBLOCK) {
      return WouldBlockError();
    }
    return adapters_internal::FdCallError(error_number, operation, fd_);
  }

  int fd_;
  Sys sys_;
  bool nonblocking_;
};

using FdReader = BasicFdReader<>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_FD_READER_H_
