#include "io/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/internal/fd_ops.h"

namespace readbuf {
namespace io_internal {
namespace {

absl::StatusOr<SocketAddress> SockName(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) return FdError(errno, peer ? "getpeername" : "getsockname", fd);
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<int> NewSocket(int family) {
  IgnoreSigpipeOnce();
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("socket(family=", family, ")"));
  }
  return fd;
}

}  // namespace

Task<absl::StatusOr<std::size_t>> StreamSocket::read(std::span<std::byte> buf) {
  return ReadSome(fd_, buf);
}
Task<absl::StatusOr<std::size_t>> StreamSocket::readv(
    std::span<const iovec> iov) {
  return ReadV(fd_, iov);
}
Task<absl::StatusOr<std::size_t>> StreamSocket::write(
    std::span<const std::byte> buf) {
  return WriteSome(fd_, FdKind::kSocket, buf);
}
Task<absl::Status> StreamSocket::write_all(std::span<const std::byte> buf) {
  return WriteAll(fd_, FdKind::kSocket, buf);
}
Task<absl::Status> StreamSocket::send_all(std::span<const std::byte> buf) {
  if (ShouldSendThroughKernel(buf.size())) return SendAllThroughKernel(fd_, buf);
  return WriteAll(fd_, FdKind::kSocket, buf);
}
Task<absl::StatusOr<std::size_t>> StreamSocket::writev(
    std::span<const iovec> iov) {
  return WriteV(fd_, FdKind::kSocket, iov);
}
Task<absl::Status> StreamSocket::write_all(std::string_view text) {
  return WriteAll(fd_, FdKind::kSocket, std::as_bytes(std::span(text.data(), text.size())));
}
Task<absl::Status> StreamSocket::write_all(const absl::Cord& cord) {
  std::vector<iovec> iov;
  for (absl::string_view chunk : cord.Chunks()) {
    iov.push_back(iovec{const_cast<char*>(chunk.data()), chunk.size()});
  }
  return WriteAllV(fd_, FdKind::kSocket, std::move(iov));
}
Task<absl::Status> StreamSocket::writev_all(std::span<const iovec> iov) {
  return WriteAllV(fd_, FdKind::kSocket, std::vector<iovec>(iov.begin(), iov.end()));
}

absl::Status StreamSocket::shutdown(int how) {
  if (::shutdown(fd_.fd(), how) != 0) {
    return FdError(errno, "shutdown", fd_.fd());
  }
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> StreamSocket::local_addr() const {
  return SockName(fd_.fd(), false);
}
absl::StatusOr<SocketAddress> StreamSocket::peer_addr() const {
  return SockName(fd_.fd(), true);
}
absl::StatusOr<SocketAddress> ListenerSocket::local_addr() const {
  return SockName(fd_.fd(), false);
}

Task<absl::StatusOr<AsyncFd>> Connect(SocketAddress addr) {
  absl::StatusOr<int> fd = NewSocket(addr.family());
  if (!fd.ok()) co_return fd.status();
  AsyncFd afd = AsyncFd::StreamFd(*fd);
  int r;
  do {
    r = ::connect(*fd, addr.sockaddr_ptr(), addr.length());
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    if (err != EINPROGRESS) {
      co_return absl::ErrnoToStatus(
          err, absl::StrCat("connect(fd=", *fd, ", ", addr.ToString(), ")"));
    }
    // In progress: wait for writability, then read the outcome.
    afd.mark_not_writable();
    absl::Status s = co_await afd.writable();
    if (!s.ok()) co_return s;
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (::getsockopt(*fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
      co_return FdError(errno, "getsockopt(SO_ERROR)", *fd);
    }
    if (so_error != 0) {
      co_return absl::ErrnoToStatus(
          so_error,
          absl::StrCat("connect(fd=", *fd, ", ", addr.ToString(), ")"));
    }
  }
  co_return std::move(afd);
}

absl::StatusOr<AsyncFd> ListenerSocket::Bind(const SocketAddress& addr,
                                             const ListenOptions& options) {
  absl::StatusOr<int> fd = NewSocket(addr.family());
  if (!fd.ok()) return fd.status();
  AsyncFd afd(*fd);
  int one = 1;
  if (addr.family() != AF_UNIX) {
    if (options.reuse_addr &&
        ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
      return FdError(errno, "setsockopt(SO_REUSEADDR)", *fd);
    }
    if (options.reuse_port &&
        ::setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return FdError(errno, "setsockopt(SO_REUSEPORT)", *fd);
    }
  }
  if (::bind(*fd, addr.sockaddr_ptr(), addr.length()) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("bind(fd=", *fd, ", ", addr.ToString(), ")"));
  }
  if (::listen(*fd, options.backlog) != 0) {
    return FdError(errno, "listen", *fd);
  }
  return afd;
}

namespace {

// Suspends until the listener's multishot accept completes (or fails), or
// the listener is closed (Cancelled).
class KernelAcceptWait {
 public:
  explicit KernelAcceptWait(AsyncFd& listener)
      : core_(CurrentCore()), fs_(AsyncFdAccess::State(listener)) {}
  KernelAcceptWait(const KernelAcceptWait&) = delete;
  KernelAcceptWait& operator=(const KernelAcceptWait&) = delete;
  ~KernelAcceptWait() {
    if (hold_.held() && !hold_.closed()) core_->backend()->AbandonAcceptWait(fs_, &run_);
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    run_.h = h;
    run_.scope = core_->current_scope();
    hold_.Take(fs_);
    core_->backend()->SetAcceptWaiter(fs_, &run_);
  }
  absl::Status await_resume() {
    absl::Status s = hold_.closed() ? fs_->ClosedError("accept") : absl::OkStatus();
    hold_.Release();
    return s;
  }

 private:
  Core* core_;
  FdState* fs_;
  FdHold hold_;  // while suspended
  RunNode run_;
};

}  // namespace

AcceptTake ListenerSocket::TakeKernelAccepted(int* fd, int* err) {
  Core* core = CurrentCore();
  FdState* fs = AsyncFdAccess::State(fd_);
  if (core == nullptr || fs == nullptr) return AcceptTake::kUnsupported;
  Core* owner = fs->owner();
  if (owner == nullptr) {
    // Registered so that closing the listener reaches the backend, which
    // cancels the accept and closes what it queued.
    if (!core->Register(fs).ok()) return AcceptTake::kUnsupported;
  } else if (owner != core) {
    return AcceptTake::kUnsupported;  // the readiness path reports the misuse
  }
  return core->backend()->TakeAccepted(fs, fd, err);
}

Task<absl::StatusOr<AsyncFd>> ListenerSocket::AcceptFd() {
  // Out of fds or kernel memory: the pending connection stays queued and the
  // listener stays readable, so retrying at once would spin. Back off
  // (1 ms doubling to 128 ms) until an fd frees up; a sleep is a suspension
  // point, so the accept can still be cancelled.
  std::int64_t backoff_ns = 1'000'000;
  constexpr std::int64_t kMaxBackoffNs = 128'000'000;
  for (;;) {
    if (!fd_.valid()) co_return absl::FailedPreconditionError("accept on a closed listener");
    // io_uring: the kernel accepts (multishot) and queues the fds.
    int fd = -1;
    int err = 0;
    switch (TakeKernelAccepted(&fd, &err)) {
      case AcceptTake::kFd:
        backoff_ns = 1'000'000;
        co_return AsyncFd::StreamFd(fd);
      case AcceptTake::kWait: {
        KernelAcceptWait wait(fd_);
        if (absl::Status s = co_await wait; !s.ok()) co_return s;
        continue;
      }
      case AcceptTake::kError:
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          ++accept_backoffs_;
          co_await SleepAwaiter(BootTimeNowNs() + backoff_ns);
          backoff_ns = std::min(backoff_ns * 2, kMaxBackoffNs);
          continue;
        }
        if (err == EINTR || err == ECONNABORTED || err == EAGAIN) continue;
        co_return FdError(err, "accept (io_uring)", fd_.fd());
      case AcceptTake::kUnsupported:
        break;
    }
    if (!fd_.is_readable()) {
      absl::Status s = co_await fd_.readable();
      if (!s.ok()) co_return s;
    }
    int c = ::accept4(fd_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) co_return AsyncFd::StreamFd(c);
    err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      fd_.mark_not_readable();
      continue;
    }
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      ++accept_backoffs_;
      co_await SleepAwaiter(BootTimeNowNs() + backoff_ns);
      backoff_ns = std::min(backoff_ns * 2, kMaxBackoffNs);
      continue;
    }
    co_return FdError(err, "accept4", fd_.fd());
  }
}

}  // namespace io_internal

Task<absl::StatusOr<TcpStream>> TcpStream::connect(SocketAddress addr) {
  if (addr.family() != AF_INET && addr.family() != AF_INET6) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("TcpStream::connect: not an IP address: ", addr.ToString()));
  }
  absl::StatusOr<AsyncFd> fd = co_await io_internal::Connect(addr);
  if (!fd.ok()) co_return fd.status();
  co_return TcpStream(*std::move(fd));
}

namespace {

Task<absl::StatusOr<TcpStream>> ConnectByName(std::string host_port) {
  absl::StatusOr<std::vector<SocketAddress>> addrs =
      co_await SocketAddress::Resolve(host_port);
  if (!addrs.ok()) co_return addrs.status();
  if (addrs->empty()) {  // Resolve reports NotFound instead; kept for safety
    co_return absl::NotFoundError(
        absl::StrCat("TcpStream::connect(\"", host_port, "\"): no address"));
  }
  absl::Status last;
  std::string tried;
  for (const SocketAddress& a : *addrs) {
    absl::StatusOr<TcpStream> s = co_await TcpStream::connect(a);
    if (s.ok()) co_return s;
    last = s.status();
    absl::StrAppend(&tried, tried.empty() ? "" : "; ", a.ToString(), ": ",
                    last.message());
  }
  co_return absl::Status(
      last.code(), absl::StrCat("TcpStream::connect(\"", host_port, "\"): ",
                                addrs->size(), " address(es), none accepted: ", tried));
}

}  // namespace

Task<absl::StatusOr<TcpStream>> TcpStream::connect(std::string_view host_port) {
  // Not a coroutine itself: the text is copied before the caller's view can
  // dangle (a Task starts only when awaited).
  return ConnectByName(std::string(host_port));
}

absl::Status TcpStream::set_nodelay(bool on) {
  int v = on ? 1 : 0;
  if (::setsockopt(fd_.fd(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) != 0) {
    return io_internal::FdError(errno, "setsockopt(TCP_NODELAY)", fd_.fd());
  }
  return absl::OkStatus();
}

absl::StatusOr<TcpListener> TcpListener::bind(const SocketAddress& addr,
                                              const ListenOptions& options) {
  if (addr.family() != AF_INET && addr.family() != AF_INET6) {
    return absl::InvalidArgumentError(
        absl::StrCat("TcpListener::bind: not an IP address: ", addr.ToString()));
  }
  absl::StatusOr<AsyncFd> fd = Bind(addr, options);
  if (!fd.ok()) return fd.status();
  return TcpListener(*std::move(fd));
}

Task<absl::StatusOr<TcpStream>> TcpListener::accept() {
  absl::StatusOr<AsyncFd> fd = co_await AcceptFd();
  if (!fd.ok()) co_return fd.status();
  co_return TcpStream(*std::move(fd));
}

Task<absl::StatusOr<UnixStream>> UnixStream::connect(SocketAddress addr) {
  if (addr.family() != AF_UNIX) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "UnixStream::connect: not a Unix address: ", addr.ToString()));
  }
  absl::StatusOr<AsyncFd> fd = co_await io_internal::Connect(addr);
  if (!fd.ok()) co_return fd.status();
  co_return UnixStream(*std::move(fd));
}

absl::StatusOr<std::pair<UnixStream, UnixStream>> UnixStream::Pair() {
  io_internal::IgnoreSigpipeOnce();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair(AF_UNIX)");
  }
  return std::make_pair(UnixStream(AsyncFd::StreamFd(fds[0])), UnixStream(AsyncFd::StreamFd(fds[1])));
}

absl::StatusOr<UnixListener> UnixListener::bind(const SocketAddress& addr,
                                                const ListenOptions& options) {
  if (addr.family() != AF_UNIX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UnixListener::bind: not a Unix address: ", addr.ToString()));
  }
  absl::StatusOr<AsyncFd> fd = Bind(addr, options);
  if (!fd.ok()) return fd.status();
  return UnixListener(*std::move(fd));
}

Task<absl::StatusOr<UnixStream>> UnixListener::accept() {
  absl::StatusOr<AsyncFd> fd = co_await AcceptFd();
  if (!fd.ok()) co_return fd.status();
  co_return UnixStream(*std::move(fd));
}

}  // namespace readbuf
