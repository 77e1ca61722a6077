// -----------------------------------------------------------------------------
// File: io/pipe.h
// -----------------------------------------------------------------------------
//
// Pipe::Create() makes a non-blocking, O_CLOEXEC pipe whose ends are awaited
// on the reactor like sockets. Writing to a pipe whose read end is closed
// yields an EPIPE status (SIGPIPE is ignored process-wide when still at its
// default disposition).
//
// Example:
//
//   absl::StatusOr<readbuf::Pipe> p = readbuf::Pipe::Create();
//   co_await p->writer.write_all(bytes);
//   absl::StatusOr<size_t> n = co_await p->reader.read(buf);
//
// Thread safety: like sockets (io/net.h).

#ifndef READBUF_IO_PIPE_H_
#define READBUF_IO_PIPE_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/async_fd.h"
#include "io/task.h"

namespace readbuf {

class PipeReader {
 public:
  PipeReader() = default;
  explicit PipeReader(AsyncFd fd) : fd_(std::move(fd)) {}
  // Reads up to buf.size() bytes; 0 means the write end is closed (EOF).
  Task<absl::StatusOr<std::size_t>> read(std::span<std::byte> buf);
  Task<absl::StatusOr<std::size_t>> readv(std::span<const iovec> iov);
  void close() { fd_.close(); }
  AsyncFd& async_fd() { return fd_; }

 private:
  AsyncFd fd_;
};

class PipeWriter {
 public:
  PipeWriter() = default;
  explicit PipeWriter(AsyncFd fd) : fd_(std::move(fd)) {}
  Task<absl::StatusOr<std::size_t>> write(std::span<const std::byte> buf);
  Task<absl::Status> write_all(std::span<const std::byte> buf);
  Task<absl::StatusOr<std::size_t>> writev(std::span<const iovec> iov);
  void close() { fd_.close(); }
  AsyncFd& async_fd() { return fd_; }

 private:
  AsyncFd fd_;
};

struct Pipe {
  PipeReader reader;
  PipeWriter writer;

  // pipe2(O_NONBLOCK | O_CLOEXEC).
  static absl::StatusOr<Pipe> Create();
};

}  // namespace readbuf

#endif  // READBUF_IO_PIPE_H_
