// -----------------------------------------------------------------------------
// File: io/net.h
// -----------------------------------------------------------------------------
//
// Stream sockets on the reactor: TcpListener / TcpStream and their
// Unix-domain twins UnixListener / UnixStream. All fds are non-blocking and
// O_CLOEXEC. Operations are Tasks to be awaited on a reactor core; the socket
// stays on the core where it first waited.
//
// The data a write is given must stay alive until the write's Task is done.
//
// Errors are absl::Status values carrying errno and the operation
// ("read(fd=7): Connection reset by peer"); EOF is a successful read of 0
// bytes. Writes use MSG_NOSIGNAL, so a closed peer yields EPIPE / ECONNRESET
// statuses and never a signal.
//
// Example:
//
//   auto addr = readbuf::SocketAddress::Parse("127.0.0.1:0");
//   absl::StatusOr<readbuf::TcpListener> l = readbuf::TcpListener::bind(*addr);
//   for (;;) {
//     absl::StatusOr<readbuf::TcpStream> conn = co_await l->accept();
//     if (!conn.ok()) break;
//     readbuf::spawn(Echo(*std::move(conn)));
//   }
//
// Thread safety: a socket object is used by one task at a time for reading
// and one for writing, on one core. Destruction is allowed anywhere.

#ifndef READBUF_IO_NET_H_
#define READBUF_IO_NET_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "buf/read_buf.h"
#include "io/address.h"
#include "io/async_fd.h"
#include "io/internal/backend.h"
#include "io/read_into.h"
#include "io/task.h"

namespace readbuf {

struct ListenOptions {
  // listen() backlog. Default: 1024.
  int backlog = 1024;
  // SO_REUSEADDR (IP only). Default: true.
  bool reuse_addr = true;
  // SO_REUSEPORT, for one listener per core on the same port. Default: false.
  bool reuse_port = false;
};

namespace io_internal {

// The operations shared by TcpStream and UnixStream.
class StreamSocket {
 public:
  // Reads up to buf.size() bytes; 0 means EOF (or an empty buf).
  Task<absl::StatusOr<std::size_t>> read(std::span<std::byte> buf);
  // Scatter read; 0 means EOF.
  Task<absl::StatusOr<std::size_t>> readv(std::span<const iovec> iov);
  // Writes some of `buf` (at least one byte unless buf is empty).
  Task<absl::StatusOr<std::size_t>> write(std::span<const std::byte> buf);
  // Writes all of `buf` or fails.
  Task<absl::Status> write_all(std::span<const std::byte> buf);
  // The same for text: `co_await conn.write_all("HTTP/1.1 200 OK\r\n")`.
  Task<absl::Status> write_all(std::string_view text);
  // Writes every chunk of `cord`, gathered with writev(2) (no copy).
  Task<absl::Status> write_all(const absl::Cord& cord);
  // Writes every byte `iov` names (any number of iovecs) or fails.
  Task<absl::Status> writev_all(std::span<const iovec> iov);
  // Writes all of `buf` or fails, like write_all. On a core running
  // io_uring, a `buf` of at most 16 KiB goes out as IORING_OP_SEND ops
  // submitted with the core's next io_uring_enter (which carries every
  // task's submissions and waits), so the write makes no system call of its
  // own and the bytes leave when that enter runs rather than at once; with
  // no room in the socket it waits for writability as write_all does.
  // Larger writes, and every write elsewhere (epoll), are write_all: a big
  // copy dwarfs the system call. Errors: "send(fd=N): ..." with the errno
  // (EPIPE, ECONNRESET, ...); FailedPrecondition once the socket is closed.
  // Cancellation: an op the kernel has taken is cancelled in the kernel and
  // the task ends at its completion; a prefix of `buf` may have been sent
  // (as with write_all).
  Task<absl::Status> send_all(std::span<const std::byte> buf);
  // Gather write of some bytes.
  Task<absl::StatusOr<std::size_t>> writev(std::span<const iovec> iov);

  // shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR.
  absl::Status shutdown(int how = SHUT_WR);
  // Closes the socket. Idempotent. REQUIRES: no operation in progress.
  // Closes the listener. Closed on its core (or unregistered), it refuses
  // connections from the moment this returns, on both backends; closed from
  // another thread, once its core has handled the close.
  void close() { fd_.close(); }
  bool is_open() const { return fd_.valid(); }

  absl::StatusOr<SocketAddress> local_addr() const;
  absl::StatusOr<SocketAddress> peer_addr() const;

  // The split read (AsyncReadyReader, io/reader_concepts.h): `co_await
  // ready()` returns once data, EOF or an error is there (at once if the fd
  // is already believed readable); try_read(b) then reads into any ReadBuf
  // without blocking, or gives WouldBlockError(). See try_read_into().
  // REQUIRES: on the socket's core; one reader at a time.
  AsyncFd::ReadinessAwaiter ready() { return fd_.readable(); }
  template <ReadBuf B>
  absl::StatusOr<std::size_t> try_read(B& b) {
    return try_read_into(fd_, b);
  }

  // The readiness layer, for adapters that issue their own syscalls.
  AsyncFd& async_fd() { return fd_; }

 protected:
  StreamSocket() = default;
  explicit StreamSocket(AsyncFd fd) : fd_(std::move(fd)) {}
  StreamSocket(StreamSocket&&) = default;
  StreamSocket& operator=(StreamSocket&&) = default;
  ~StreamSocket() = default;

  AsyncFd fd_;
};

// Non-blocking connect to `addr`.
Task<absl::StatusOr<AsyncFd>> Connect(SocketAddress addr);

class ListenerSocket {
 public:
  absl::StatusOr<SocketAddress> local_addr() const;
  void close() { fd_.close(); }
  // How often accept() met EMFILE, ENFILE, ENOBUFS or ENOMEM and backed off.
  std::uint64_t accept_backoffs() const { return accept_backoffs_; }
  AsyncFd& async_fd() { return fd_; }

 protected:
  ListenerSocket() = default;
  explicit ListenerSocket(AsyncFd fd) : fd_(std::move(fd)) {}
  ListenerSocket(ListenerSocket&&) = default;
  ListenerSocket& operator=(ListenerSocket&&) = default;
  ~ListenerSocket() = default;

  static absl::StatusOr<AsyncFd> Bind(const SocketAddress& addr,
                                      const ListenOptions& options);
  Task<absl::StatusOr<AsyncFd>> AcceptFd();
  // The io_uring multishot accept path (kUnsupported: use accept4).
  AcceptTake TakeKernelAccepted(int* fd, int* err);

  AsyncFd fd_;
  std::uint64_t accept_backoffs_ = 0;
};

}  // namespace io_internal

// TcpStream: a connected TCP socket.
class TcpStream : public io_internal::StreamSocket {
 public:
  TcpStream() = default;
  explicit TcpStream(AsyncFd fd) : StreamSocket(std::move(fd)) {}

  // Connects to an IPv4/IPv6 address.
  static Task<absl::StatusOr<TcpStream>> connect(SocketAddress addr);

  // Resolves "host:port" (SocketAddress::Resolve: getaddrinfo on the
  // blocking pool, never on the core) and tries the addresses in order until
  // one accepts. Errors: the resolve error, or the last connect error's code
  // with every address tried and why each failed. Each attempt waits as long
  // as the kernel's connect does; wrap the call in timeout() to bound it.
  // `host_port` is copied before this returns.
  static Task<absl::StatusOr<TcpStream>> connect(std::string_view host_port);

  // TCP_NODELAY.
  absl::Status set_nodelay(bool on);
};

// TcpListener: a listening TCP socket.
class TcpListener : public io_internal::ListenerSocket {
 public:
  TcpListener() = default;
  // socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen. Port 0 picks a
  // free port (see local_addr()).
  static absl::StatusOr<TcpListener> bind(const SocketAddress& addr,
                                          const ListenOptions& options = {});
  // Waits for and accepts the next connection. When the process is out of
  // fds (EMFILE, ENFILE) or the kernel out of memory, the connection stays
  // queued and accept() retries after a backoff (1 ms doubling to 128 ms)
  // instead of failing or spinning; accept_backoffs() counts those.
  Task<absl::StatusOr<TcpStream>> accept();

 private:
  explicit TcpListener(AsyncFd fd) : ListenerSocket(std::move(fd)) {}
};

// UnixStream: a connected Unix-domain stream socket.
class UnixStream : public io_internal::StreamSocket {
 public:
  UnixStream() = default;
  explicit UnixStream(AsyncFd fd) : StreamSocket(std::move(fd)) {}
  static Task<absl::StatusOr<UnixStream>> connect(SocketAddress addr);
  // A connected pair (socketpair(AF_UNIX, SOCK_STREAM)).
  static absl::StatusOr<std::pair<UnixStream, UnixStream>> Pair();
};

// UnixListener: a listening Unix-domain socket. The path is not unlinked.
class UnixListener : public io_internal::ListenerSocket {
 public:
  UnixListener() = default;
  static absl::StatusOr<UnixListener> bind(const SocketAddress& addr,
                                           const ListenOptions& options = {});
  Task<absl::StatusOr<UnixStream>> accept();

 private:
  explicit UnixListener(AsyncFd fd) : ListenerSocket(std::move(fd)) {}
};

}  // namespace readbuf

#endif  // READBUF_IO_NET_H_
