// -----------------------------------------------------------------------------
// File: io/internal/fd_ops.h
// -----------------------------------------------------------------------------
//
// Readiness-driven read/write loops over an AsyncFd, shared by sockets and
// pipes, and the socket send loop that runs as io_uring kernel ops
// (StreamSocket::send_all). Each retries EINTR, waits on EAGAIN, reports EOF
// as 0 bytes and turns other errors into absl::Status via
// absl::ErrnoToStatus with the operation and fd in the message
// ("read(fd=7)").

#ifndef READBUF_IO_INTERNAL_FD_OPS_H_
#define READBUF_IO_INTERNAL_FD_OPS_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/async_fd.h"
#include "io/task.h"

namespace readbuf {
namespace io_internal {

enum class FdKind { kSocket, kPipe };

// Makes SIGPIPE harmless for the process (writes to closed pipes then fail
// with EPIPE) unless the application installed its own handler.
void IgnoreSigpipeOnce();

absl::Status FdError(int err, const char* op, int fd);

Task<absl::StatusOr<std::size_t>> ReadSome(AsyncFd& fd,
                                           std::span<std::byte> buf);
Task<absl::StatusOr<std::size_t>> ReadV(AsyncFd& fd,
                                        std::span<const iovec> iov);
Task<absl::StatusOr<std::size_t>> WriteSome(AsyncFd& fd, FdKind kind,
                                            std::span<const std::byte> buf);
Task<absl::StatusOr<std::size_t>> WriteV(AsyncFd& fd, FdKind kind,
                                         std::span<const iovec> iov);
Task<absl::Status> WriteAll(AsyncFd& fd, FdKind kind,
                            std::span<const std::byte> buf);
// Writes every byte `iov` names, IOV_MAX iovecs per call, resuming after
// short writes. Takes the iovec list by value (the bytes must outlive it).
Task<absl::Status> WriteAllV(AsyncFd& fd, FdKind kind, std::vector<iovec> iov);

// The largest write StreamSocket::send_all hands to the kernel as an op.
// Above it the copy dwarfs a system call: ring sends of 64 KiB stream
// chunks measured 2-8% slower than write(2) (BENCHMARKS.md section 5).
inline constexpr std::size_t kKernelSendMax = 16 * 1024;

// True if a socket write of `size` bytes on the calling thread should go
// through the kernel: the thread is a core whose backend runs kernel ops
// (io_uring) and size <= kKernelSendMax.
bool ShouldSendThroughKernel(std::size_t size);
// Writes every byte of `buf` to the socket `fd` with one-shot IORING_OP_SEND
// ops (MSG_NOSIGNAL | MSG_DONTWAIT), each submitted in the core's next
// io_uring_enter, so the write costs no system call of its own; resumes
// after short sends. When the socket has no room the kernel answers EAGAIN
// at once and the send waits for writability like write_all. The op lives
// in this coroutine's frame; a cancelled op pins its scope until the kernel
// completes it (io/internal/kernel_op.h), so some prefix of `buf` may have
// been sent. REQUIRES: on a core whose backend runs kernel ops.
Task<absl::Status> SendAllThroughKernel(AsyncFd& fd, std::span<const std::byte> buf);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_FD_OPS_H_
