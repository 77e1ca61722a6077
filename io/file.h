// -----------------------------------------------------------------------------
// File: io/file.h
// -----------------------------------------------------------------------------
//
// File: positional reads from a regular file. On the io_uring backend
// read_at() is an IORING_OP_READ: the core runs other tasks while the kernel
// reads, and when the core's kernel op slots (RuntimeOptions::
// kernel_op_slots) are all busy the read waits for one. A regular file is
// always "ready", so on the epoll backend, and off a core, read_at() is a
// plain pread() on the calling thread (a page-cache miss blocks the core
// for the duration of the disk read).
//
// A file opened O_NONBLOCK (a FIFO, a device) that has nothing to read gives
// WouldBlockError() (io/io_status.h): read_at does not wait for readiness.
//
// Cancellation: a cancelled task whose read is in the kernel is destroyed
// once the read completes (the kernel is asked to cancel it), never while
// the kernel may still write into `buf`.
//
// Example:
//
//   absl::StatusOr<readbuf::File> f = readbuf::File::open("/etc/hostname");
//   std::byte buf[256];
//   absl::StatusOr<size_t> n = co_await f->read_at(buf, 0);  // 0 = EOF
//
// Thread safety: read_at may be used concurrently (pread has no file offset).

#ifndef READBUF_IO_FILE_H_
#define READBUF_IO_FILE_H_

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "io/task.h"

namespace readbuf {

class File {
 public:
  File() = default;
  File(File&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  File& operator=(File&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }

  // open(2) with O_CLOEXEC added. Errors name the path.
  static absl::StatusOr<File> open(absl::string_view path,
                                   int flags = O_RDONLY, int mode = 0644);

  // Reads up to buf.size() bytes at `offset`; 0 means EOF. Retries EINTR.
  Task<absl::StatusOr<std::size_t>> read_at(std::span<std::byte> buf,
                                            std::uint64_t offset);

  // Size in bytes (fstat).
  absl::StatusOr<std::uint64_t> size() const;

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void close();

 private:
  explicit File(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace readbuf

#endif  // READBUF_IO_FILE_H_
