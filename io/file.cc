#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "io/internal/core.h"
#include "io/internal/kernel_op.h"
#include "io/io_status.h"

namespace readbuf {

absl::StatusOr<File> File::open(absl::string_view path, int flags, int mode) {
  std::string p(path);
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open(", p, ")"));
  return File(fd);
}

Task<absl::StatusOr<std::size_t>> File::read_at(std::span<std::byte> buf,
                                                std::uint64_t offset) {
  io_internal::Core* core = io_internal::CurrentCore();
  if (core != nullptr && core->backend()->SupportsKernelOps()) {
    // IORING_OP_READ: the core keeps running other tasks while the kernel
    // reads (a page-cache miss does not block it).
    io_internal::KernelOp op;
    op.kind = io_internal::KernelOp::Kind::kRead;
    op.fd = fd_;
    op.buf = buf.data();
    op.len = static_cast<std::uint32_t>(
        std::min<std::size_t>(buf.size(), std::numeric_limits<std::int32_t>::max()));
    op.offset = offset;
    for (;;) {
      op.state = io_internal::KernelOp::State::kIdle;
      const std::int32_t res = co_await io_internal::KernelOpAwaiter(&op);
      if (res >= 0) co_return static_cast<std::size_t>(res);
      if (res == -EINTR) continue;
      // An O_NONBLOCK file with nothing to read: resubmitting would spin.
      if (res == -EAGAIN) co_return WouldBlockError();
      co_return absl::ErrnoToStatus(
          -res, absl::StrCat("read(fd=", fd_, ", offset=", offset, ") via io_uring"));
    }
  }
  for (;;) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(),
                        static_cast<off_t>(offset));
    if (n >= 0) co_return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) co_return WouldBlockError();
    co_return absl::ErrnoToStatus(
        errno, absl::StrCat("pread(fd=", fd_, ", offset=", offset, ")"));
  }
}

absl::StatusOr<std::uint64_t> File::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fstat(fd=", fd_, ")"));
  }
  return static_cast<std::uint64_t>(st.st_size);
}

void File::close() {
  if (fd_ < 0) return;
  // A read queued for an op slot names the fd by number: end it before the
  // number can name another file.
  if (io_internal::Core* core = io_internal::CurrentCore()) core->backend()->EndQueuedOps(fd_);
  ::close(std::exchange(fd_, -1));
}

}  // namespace readbuf
