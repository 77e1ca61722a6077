// -----------------------------------------------------------------------------
// File: io/driver.h
// -----------------------------------------------------------------------------
//
// Driver: readbuf's completion driver on its own, without the coroutine
// runtime, for programs with their own scheduler (a game loop, a database,
// a test harness). It runs on the same Backend objects a Runtime's cores run
// (io/internal/backend.h), chosen the same way (DriverOptions::backend,
// READBUF_BACKEND, epoll when io_uring cannot be set up).
//
// LIFETIMES: an operation is copied at push(), but every buffer, iovec array
// and ReadBuf it names is the caller's and must stay alive and unmoved until
// submit_and_wait() returns that operation's completion: the kernel may write
// into it until then. Debug builds CHECK at completion that a read's ReadBuf
// did not move, and that every call comes from the creating thread.
// Destroying the Driver cancels what is in flight and waits (bounded) for
// the kernel to give every buffer back; an accepted fd whose completion was
// never reaped is closed.
// THREAD SAFETY: one Driver per thread, used only on the thread that created
// it, which must not be a Runtime core's thread. A Runtime may run beside it.
// REQUIRES: sockets used with Recv, Send, SendV, Accept, Connect or
// PollReadable are attach()ed first (on epoll attach sets O_NONBLOCK).
//
// On io_uring every operation is a one-shot kernel op whose SQE is written
// at push(); submit_and_wait() hands them to the kernel and waits in one
// io_uring_enter. On epoll the driver runs the syscall itself in
// submit_and_wait() (ReadAt / WriteAt block like pread / pwrite) and parks a
// socket operation that would block until its fd's next readiness edge.
//
// Example (examples/driver_cat.cc reads a whole file this way):
//
//   absl::StatusOr<readbuf::Driver> d = readbuf::Driver::Create();
//   readbuf::Uninit buf(64 * 1024);
//   absl::Status pushed = d->push(readbuf::driver::ReadAt{fd, buf, /*offset=*/0},
//                                 /*user_data=*/1);
//   readbuf::driver::Completion done[8];
//   size_t n = d->submit_and_wait(std::nullopt, done);   // waits for >= 1
//   // done[0].user_data == 1, done[0].result == bytes read (buf advanced)
//
// The queue has a fixed number of entries (DriverOptions::entries). An
// operation holds its entry from push() until its completion is returned:
// push() on a full queue returns ResourceExhausted and allocates nothing;
// push_batch() queues all of a batch or none of it.

#ifndef READBUF_IO_DRIVER_H_
#define READBUF_IO_DRIVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/driver_ops.h"
#include "io/runtime.h"
#include "io/timer.h"

namespace readbuf {

namespace io_internal {
class DriverEngine;
}  // namespace io_internal

struct DriverOptions {
  // Default: kAuto (READBUF_BACKEND if set, else io_uring; epoll when
  // io_uring cannot be set up, and backend_note() says why).
  BackendKind backend = BackendKind::kAuto;
  // Operations in flight or waiting to be reaped at once, in [1, 65536].
  // Default: 256.
  std::uint32_t entries = 256;
};

class Driver {
 public:
  // Errors: InvalidArgument for bad options; FailedPrecondition on a Runtime
  // core's thread; the backend's setup error.
  static absl::StatusOr<Driver> Create(DriverOptions options = {});

  Driver(Driver&&) noexcept;
  Driver& operator=(Driver&&) noexcept;
  // Cancels the operations in flight and waits for their completions (up to
  // 10 s; an operation the kernel still holds then is a CHECK failure, since
  // returning would let the kernel write into freed memory). Closes the fds
  // of Accept completions that were never reaped.
  ~Driver();

  // "epoll" or "io_uring".
  const char* backend_name() const;
  // Why the requested backend was not used (empty if it was).
  const std::string& backend_note() const;

  // Makes `fd` usable by socket operations (epoll: registers it and sets
  // O_NONBLOCK). The caller keeps owning the fd. Errors: InvalidArgument
  // (negative fd), AlreadyExists, the registration's errno.
  [[nodiscard]] absl::Status attach(int fd);
  // Forgets `fd` (call it before closing the fd). Errors: NotFound;
  // FailedPrecondition while operations on it have not completed (cancel
  // them and reap their completions first).
  [[nodiscard]] absl::Status detach(int fd);

  // Queues `op`, tagged `user_data` (any value; several operations may share
  // one), for the next submit_and_wait(). On io_uring a read's ReadBuf is
  // prepared here (a Pooled buffer takes its block); on epoll only once its
  // fd is readable. Errors: ResourceExhausted when all entries are taken
  // (the status is built at Create(): nothing is allocated); InvalidArgument
  // for a negative fd; FailedPrecondition for a socket operation on an fd
  // that is not attach()ed. An fd the kernel rejects (closed, wrong type)
  // completes with -errno instead.
  [[nodiscard]] absl::Status push(const driver::Op& op, std::uint64_t user_data);
  // Queues every entry, or none: the same errors as push() (for the first
  // entry at fault), ResourceExhausted when they do not all fit.
  [[nodiscard]] absl::Status push_batch(std::span<const driver::Entry> entries);

  // Submits what was pushed and waits until at least one operation has
  // completed or `deadline` (CLOCK_BOOTTIME) passes; a deadline not after
  // now only polls, nullopt waits without limit (but returns 0 at once when
  // nothing is in flight). Writes up to out.size() completions, oldest
  // first, and returns how many; the rest stay for the next call. On
  // io_uring this is one io_uring_enter, submission and wait together (as
  // long as what was pushed since the last call fits the ring's 1,024 SQEs).
  // The wait for `deadline` follows Backend::Wait: absolute on
  // CLOCK_BOOTTIME on io_uring (kernel >= 6.12), a relative CLOCK_MONOTONIC
  // sleep on epoll, which a suspend stretches.
  std::size_t submit_and_wait(std::optional<BootClock::time_point> deadline,
                              std::span<driver::Completion> out);

  // Cancels every operation tagged `user_data` that has not completed: it
  // completes with -ECANCELED, or with its own result if it finished first
  // (io_uring). A cancelled read leaves its buffer as it was (a Pooled
  // buffer gives its block back). Errors: NotFound when no operation tagged
  // `user_data` is in flight (it completed already, or was never pushed).
  [[nodiscard]] absl::Status cancel(std::uint64_t user_data);

  std::size_t capacity() const;
  // Entries push() can take now.
  std::size_t free_entries() const;

 private:
  explicit Driver(std::unique_ptr<io_internal::DriverEngine> engine);
  std::unique_ptr<io_internal::DriverEngine> engine_;
};

}  // namespace readbuf

#endif  // READBUF_IO_DRIVER_H_
