// -----------------------------------------------------------------------------
// File: io/driver_ops.h
// -----------------------------------------------------------------------------
//
// The operations a Driver (io/driver.h) runs, as plain structs, and what it
// returns for each (Completion). LIFETIMES: every buffer, iovec array and
// ReadBuf an operation names is the caller's, and must stay alive and
// unmoved from push() until that operation's completion is returned by
// submit_and_wait(); the kernel may write into it until then. A read into a
// ReadBuf CHECKs (debug builds) at completion that its buffer did not move.
// Thread safety: plain values; a ReadBufRef is as thread-safe as its buffer.

#ifndef READBUF_IO_DRIVER_OPS_H_
#define READBUF_IO_DRIVER_OPS_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "buf/internal/unfilled_iovecs.h"
#include "buf/read_buf.h"
#include "io/address.h"
#include "io/timer.h"

namespace readbuf {
namespace driver {

// A non-owning, type-erased reference to a ReadBuf of any policy (Uninit,
// Zeroed, Vectored<N>, Dyn, Pooled, ...). A read fills the buffer's unfilled
// space, advances it by the bytes read and records the read
// (read_buf_traits<B>::record_read). A deferring policy (Pooled) gets
// prepare() when the read is handed to the kernel (io_uring) or when its fd
// is ready (epoll), and release_idle() when the read ends with no data.
class ReadBufRef {
 public:
  // At most this many segments of a vectored buffer are read at once.
  static constexpr std::size_t kMaxSegments = 8;

  template <ReadBuf B>
  ReadBufRef(B& buf) : buf_(&buf), ops_(&kOps<B>) {}  // NOLINT: implicit

  // read_buf_traits<B>::prepare(buf, 0).
  absl::Status prepare() const { return ops_->prepare(buf_); }
  // Fills `out` with the unfilled space; returns the iovec count and sets
  // `offered` to the bytes they span.
  std::size_t unfilled(std::span<iovec> out, std::size_t& offered) const {
    return ops_->unfilled(buf_, out, offered);
  }
  // Advances by `got` bytes of `offered` and records the read.
  void commit(std::size_t got, std::size_t offered) const { ops_->commit(buf_, got, offered); }
  void release_idle() const { ops_->release_idle(buf_); }
  // read_buf_traits<B>::kDefersMemory: the buffer holds no memory until
  // prepare() (Pooled).
  bool defers_memory() const { return ops_->defers_memory; }
  // Where the next byte read would go (the debug check that the buffer did
  // not move while its read was in flight).
  const void* write_ptr() const { return ops_->write_ptr(buf_); }

 private:
  struct Ops {
    absl::Status (*prepare)(void*);
    std::size_t (*unfilled)(void*, std::span<iovec>, std::size_t&);
    void (*commit)(void*, std::size_t, std::size_t);
    void (*release_idle)(void*);
    const void* (*write_ptr)(void*);
    bool defers_memory;
  };

  template <ReadBuf B>
  static constexpr Ops kOps = {
      [](void* b) { return read_buf_traits<B>::prepare(*static_cast<B*>(b), 0); },
      [](void* b, std::span<iovec> out, std::size_t& offered) -> std::size_t {
        return buf_internal::UnfilledIovecs(*static_cast<B*>(b), 0, out, offered);
      },
      [](void* b, std::size_t got, std::size_t offered) {
        B& buf = *static_cast<B*>(b);
        buf.advance(got);
        read_buf_traits<B>::record_read(buf, got, offered);
      },
      [](void* b) { read_buf_traits<B>::release_idle(*static_cast<B*>(b)); },
      [](void* b) -> const void* { return static_cast<B*>(b)->unfilled().write_ptr(); },
      read_buf_traits<B>::kDefersMemory,
  };

  void* buf_;
  const Ops* ops_;
};

// Positional read of a file into `buf` (pread, or preadv over the segments
// of a vectored buffer; IORING_OP_READ / READV). Result: bytes read (0 at
// end of file) or -errno.
struct ReadAt {
  int fd;
  ReadBufRef buf;
  std::uint64_t offset = 0;
};

// Positional write of `data` (pwrite; IORING_OP_WRITE). Result: bytes
// written or -errno.
struct WriteAt {
  int fd;
  std::span<const std::byte> data;
  std::uint64_t offset = 0;
};

// Receives into `buf`: recv, or one recvmsg over the segments of a vectored
// buffer (Vectored<N>). REQUIRES: `fd` attached (Driver::attach). Result:
// bytes (0 at EOF) or -errno.
struct Recv {
  int fd;
  ReadBufRef buf;
};

// Sends `data` (send with MSG_NOSIGNAL). REQUIRES: `fd` attached. Result:
// bytes sent (possibly fewer) or -errno.
struct Send {
  int fd;
  std::span<const std::byte> data;
};

// Sends the buffers `iov` names in one sendmsg. `iov` itself (the array)
// must also live until the completion. REQUIRES: `fd` attached.
struct SendV {
  int fd;
  std::span<const iovec> iov;
};

// Accepts a connection on a listening socket. REQUIRES: `fd` attached.
// Result: the new fd (SOCK_NONBLOCK | SOCK_CLOEXEC; the caller owns it) or
// -errno.
struct Accept {
  int fd;
};

// Connects a socket to `addr` (copied at push). REQUIRES: `fd` attached.
// Result: 0 or -errno (-ECONNREFUSED, ...).
struct Connect {
  int fd;
  SocketAddress addr;
};

// Completes with -ETIME at `deadline` (CLOCK_BOOTTIME; a suspend counts).
struct Timeout {
  BootClock::time_point deadline;
  // A timeout `d` from now on the boot clock.
  static Timeout After(absl::Duration d) {
    return Timeout{BootClock::time_point(BootClock::duration(io_internal::DeadlineAfter(d)))};
  }
};

// Completes when `fd` is readable (or closed for reading). REQUIRES: `fd`
// attached. Result: the poll(2) revents mask (POLLIN, POLLHUP, ...) or -errno.
struct PollReadable {
  int fd;
};

using Op = std::variant<ReadAt, WriteAt, Recv, Send, SendV, Accept, Connect, Timeout,
                        PollReadable>;

// One operation of a batch (Driver::push_batch).
struct Entry {
  Op op;
  std::uint64_t user_data = 0;
};

// What submit_and_wait() returns for an operation: its user_data and its
// result (bytes, a new fd or 0 on success; -errno on failure; -ECANCELED
// after cancel() unless the operation finished first; -ENOBUFS for a read
// whose ReadBuf offered no space or whose prepare() failed).
struct Completion {
  std::uint64_t user_data = 0;
  std::int32_t result = 0;
};

}  // namespace driver
}  // namespace readbuf

#endif  // READBUF_IO_DRIVER_OPS_H_
