#include "io/internal/fd_ops.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "absl/strings/str_cat.h"
#include "io/internal/consume_iovecs.h"
#include "io/internal/core.h"
#include "io/internal/kernel_op.h"

namespace readbuf {
namespace io_internal {
namespace {

std::size_t TotalLength(std::span<const iovec> iov) {
  std::size_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

}  // namespace

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old{};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  });
}

absl::Status FdError(int err, const char* op, int fd) {
  return absl::ErrnoToStatus(err, absl::StrCat(op, "(fd=", fd, ")"));
}

Task<absl::StatusOr<std::size_t>> ReadSome(AsyncFd& fd,
                                           std::span<std::byte> buf) {
  for (;;) {
    if (!fd.is_readable()) {
      absl::Status s = co_await fd.readable();
      if (!s.ok()) co_return s;
    }
    ssize_t n = ::read(fd.fd(), buf.data(), buf.size());
    if (n >= 0) {
      if (static_cast<std::size_t>(n) < buf.size()) fd.mark_drained();
      co_return static_cast<std::size_t>(n);
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      fd.mark_not_readable();
      continue;
    }
    co_return FdError(err, "read", fd.fd());
  }
}

Task<absl::StatusOr<std::size_t>> ReadV(AsyncFd& fd,
                                        std::span<const iovec> iov) {
  // One readv takes at most IOV_MAX iovecs: a read is short only against
  // what it was offered.
  const int cnt = static_cast<int>(iov.size() > IOV_MAX ? IOV_MAX : iov.size());
  const std::size_t want = TotalLength(iov.first(static_cast<std::size_t>(cnt)));
  for (;;) {
    if (!fd.is_readable()) {
      absl::Status s = co_await fd.readable();
      if (!s.ok()) co_return s;
    }
    ssize_t n = ::readv(fd.fd(), iov.data(), cnt);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) < want) fd.mark_drained();
      co_return static_cast<std::size_t>(n);
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      fd.mark_not_readable();
      continue;
    }
    co_return FdError(err, "readv", fd.fd());
  }
}

Task<absl::StatusOr<std::size_t>> WriteSome(AsyncFd& fd, FdKind kind,
                                            std::span<const std::byte> buf) {
  for (;;) {
    if (!fd.is_writable()) {
      absl::Status s = co_await fd.writable();
      if (!s.ok()) co_return s;
    }
    ssize_t n = kind == FdKind::kSocket
                    ? ::send(fd.fd(), buf.data(), buf.size(), MSG_NOSIGNAL)
                    : ::write(fd.fd(), buf.data(), buf.size());
    if (n >= 0) co_return static_cast<std::size_t>(n);
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      fd.mark_not_writable();
      continue;
    }
    co_return FdError(err, kind == FdKind::kSocket ? "send" : "write",
                      fd.fd());
  }
}

Task<absl::StatusOr<std::size_t>> WriteV(AsyncFd& fd, FdKind kind,
                                         std::span<const iovec> iov) {
  int cnt = static_cast<int>(iov.size() > IOV_MAX ? IOV_MAX : iov.size());
  for (;;) {
    if (!fd.is_writable()) {
      absl::Status s = co_await fd.writable();
      if (!s.ok()) co_return s;
    }
    ssize_t n;
    if (kind == FdKind::kSocket) {
      msghdr msg{};
      msg.msg_iov = const_cast<iovec*>(iov.data());  // sendmsg does not write
      msg.msg_iovlen = static_cast<std::size_t>(cnt);
      n = ::sendmsg(fd.fd(), &msg, MSG_NOSIGNAL);
    } else {
      n = ::writev(fd.fd(), iov.data(), cnt);
    }
    if (n >= 0) co_return static_cast<std::size_t>(n);
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      fd.mark_not_writable();
      continue;
    }
    co_return FdError(err, kind == FdKind::kSocket ? "sendmsg" : "writev",
                      fd.fd());
  }
}

Task<absl::Status> WriteAll(AsyncFd& fd, FdKind kind,
                            std::span<const std::byte> buf) {
  while (!buf.empty()) {
    absl::StatusOr<std::size_t> n = co_await WriteSome(fd, kind, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("write: the kernel accepted 0 bytes");
    buf = buf.subspan(*n);
  }
  co_return absl::OkStatus();
}

Task<absl::Status> WriteAllV(AsyncFd& fd, FdKind kind, std::vector<iovec> iov) {
  std::size_t first = 0;
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    absl::StatusOr<std::size_t> n =
        co_await WriteV(fd, kind, std::span<const iovec>(iov).subspan(first));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("writev: the kernel accepted 0 bytes");
    first += ConsumeIovecs(std::span<iovec>(iov).subspan(first), *n);
  }
  co_return absl::OkStatus();
}

bool ShouldSendThroughKernel(std::size_t size) {
  if (size > kKernelSendMax) return false;
  Core* core = CurrentCore();
  return core != nullptr && core->backend()->SupportsKernelOps();
}

Task<absl::Status> SendAllThroughKernel(AsyncFd& fd, std::span<const std::byte> buf) {
  // KernelOpAwaiter CHECKs that this runs on a core with kernel ops.
  KernelOp op;
  op.kind = KernelOp::Kind::kSend;
  op.op_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
  while (!buf.empty()) {
    if (!fd.valid()) co_return absl::FailedPreconditionError("send: the socket is closed");
    op.state = KernelOp::State::kIdle;
    op.fd = fd.fd();
    // The socket's registered-file index on this core, if the receive ring
    // entered it in the table (re-read each time: the fd may be closed
    // between sends).
    op.file_index =
        CurrentCore()->backend()->RegisteredFileIndex(AsyncFdAccess::State(fd));
    op.buf = const_cast<std::byte*>(buf.data());
    op.len = static_cast<std::uint32_t>(std::min<std::size_t>(buf.size(), std::size_t{1} << 30));
    const std::int32_t r = co_await KernelOpAwaiter(&op);
    if (r > 0) {
      buf = buf.subspan(static_cast<std::size_t>(r));
    } else if (r == -EAGAIN || r == -EWOULDBLOCK) {
      // No room (MSG_DONTWAIT): wait for writability, as write_all does.
      fd.mark_not_writable();
      if (absl::Status ready = co_await fd.writable(); !ready.ok()) co_return ready;
    } else if (r != -EINTR) {
      // 0 for a non-empty send would repeat forever: report it as EPIPE.
      co_return FdError(r < 0 ? -r : EPIPE, "send", op.fd);
    }
  }
  co_return absl::OkStatus();
}

}  // namespace io_internal
}  // namespace readbuf
