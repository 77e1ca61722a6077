#include "io/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "io/internal/fd_ops.h"

namespace readbuf {

Task<absl::StatusOr<std::size_t>> PipeReader::read(std::span<std::byte> buf) {
  return io_internal::ReadSome(fd_, buf);
}
Task<absl::StatusOr<std::size_t>> PipeReader::readv(
    std::span<const iovec> iov) {
  return io_internal::ReadV(fd_, iov);
}
Task<absl::StatusOr<std::size_t>> PipeWriter::write(
    std::span<const std::byte> buf) {
  return io_internal::WriteSome(fd_, io_internal::FdKind::kPipe, buf);
}
Task<absl::Status> PipeWriter::write_all(std::span<const std::byte> buf) {
  return io_internal::WriteAll(fd_, io_internal::FdKind::kPipe, buf);
}
Task<absl::StatusOr<std::size_t>> PipeWriter::writev(
    std::span<const iovec> iov) {
  return io_internal::WriteV(fd_, io_internal::FdKind::kPipe, iov);
}

absl::StatusOr<Pipe> Pipe::Create() {
  io_internal::IgnoreSigpipeOnce();
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  Pipe p;
  p.reader = PipeReader(AsyncFd::StreamFd(fds[0]));
  p.writer = PipeWriter(AsyncFd::StreamFd(fds[1]));
  return p;
}

}  // namespace readbuf
