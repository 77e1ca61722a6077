// -----------------------------------------------------------------------------
// File: io/read_into.h
// -----------------------------------------------------------------------------
//
// One read into any ReadBuf policy from a non-blocking fd on a reactor core,
// in the order that lets a deferring policy (Pooled) hold no memory while a
// connection is idle: *wait for readiness first*, then ask the buffer for
// memory (read_buf_traits<B>::prepare), then read without blocking, then give
// the buffer its feedback (record_read). The same coroutine serves Zeroed,
// Uninit, Vectored, Dyn and Pooled; only the template argument changes. No
// copy is made: the kernel writes straight into the policy's memory (readv(2)
// for a vectored buffer).
//
// write_filled() is the other half of an echo: it writes every filled byte,
// using writev(2) across a vectored buffer's segments.
//
// Example:
//
//   template <class Policy>
//   readbuf::Task<absl::Status> Echo(readbuf::TcpStream conn) {
//     Policy buf;
//     for (;;) {
//       absl::StatusOr<size_t> n = co_await readbuf::read_into(conn, buf);
//       if (!n.ok()) co_return n.status();
//       if (*n == 0) co_return absl::OkStatus();  // EOF
//       if (absl::Status s = co_await readbuf::write_filled(conn, buf); !s.ok()) co_return s;
//       buf.clear();
//     }
//   }

#ifndef READBUF_IO_READ_INTO_H_
#define READBUF_IO_READ_INTO_H_

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <coroutine>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/read_guard.h"
#include "buf/internal/unfilled_iovecs.h"
#include "buf/read_buf.h"
#include "io/async_fd.h"
#include "io/internal/consume_iovecs.h"
#include "io/internal/core.h"
#include "io/io_status.h"
#include "io/task.h"

namespace readbuf {

// A stream that exposes its readiness layer (TcpStream, UnixStream, ...).
template <class S>
concept HasAsyncFd = requires(S& s) {
  { s.async_fd() } -> std::same_as<AsyncFd&>;
};

// One non-blocking read into `buf` from `fd`, without waiting: prepares the
// buffer (a deferring one takes memory now), reads once into its unfilled
// space (at most `max` bytes if max != 0), advances it, and records the
// read for adaptive sizing. Returns the bytes read (0 = EOF), or
// WouldBlockError() when nothing is there yet (the fd is then marked not
// readable). A short read on a stream socket or pipe marks the fd drained,
// so the next read_into waits for an edge instead of spending a syscall to
// learn EAGAIN.
// Not a coroutine: nothing here lives in a suspended frame.
// Errors: as read_into; FailedPrecondition on a closed AsyncFd.
namespace io_internal {

// try_read_into() on the fd's readiness state itself (what a waiting
// read_into holds). REQUIRES: `fs` not closed.
template <ReadBuf B>
absl::StatusOr<size_t> TryReadInto(FdState* fs, B& buf, size_t max) {
  if (absl::Status s = read_buf_traits<B>::prepare(buf, max); !s.ok()) return s;
  std::array<iovec, 16> iov;
  size_t offered = 0;
  const size_t count = buf_internal::UnfilledIovecs(buf, max, iov, offered);
  if (count == 0) {
    return absl::FailedPreconditionError(
        "read_into: the buffer has no free space (clear() it or give a larger one)");
  }
  buf_internal::ReadGuard guard(buf);
  ssize_t n;
  do {
    n = count == 1 ? ::read(fs->fd, iov[0].iov_base, iov[0].iov_len)
                   : ::readv(fs->fd, iov.data(), static_cast<int>(count));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    fs->NoteEagain(/*write=*/false);
    return WouldBlockError();
  }
  if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read(fd=", fs->fd, ")"));
  const auto got = static_cast<size_t>(n);
  buf.advance(got);
  guard.Verify(got);
  read_buf_traits<B>::record_read(buf, got, offered);
  // AsyncFd::mark_drained().
  if (got < offered && !fs->read_closed && fs->ShortReadDrains()) fs->readable = false;
  return got;
}

}  // namespace io_internal

template <ReadBuf B>
absl::StatusOr<size_t> try_read_into(AsyncFd& fd, B& buf, size_t max = 0) {
  if (!fd.valid()) return absl::FailedPreconditionError("read_into: the AsyncFd is closed");
  return io_internal::TryReadInto(io_internal::AsyncFdAccess::State(fd), buf, max);
}

namespace io_internal {

// The awaitable behind read_into(): no coroutine frame of its own, so an
// idle connection's suspended read costs only this object inside the
// caller's frame. Waiting registers a RunNode whose on_run retries the read
// on the core and resumes the caller only with a result (a spurious wake-up
// waits again without resuming it).
template <ReadBuf B>
class [[nodiscard]] ReadIntoAwaiter {
 public:
  ReadIntoAwaiter(AsyncFd& fd, B& buf, size_t max)
      : ReadIntoAwaiter(AsyncFdAccess::State(fd), buf, max) {}
  // Movable until awaited (timeout() takes it by value).
  ReadIntoAwaiter(ReadIntoAwaiter&& o) noexcept : ReadIntoAwaiter(o.fs_, o.buf_, o.max_) {
    READBUF_DCHECK(o.state_ == kPending && !o.held_, "moving a read_into that was awaited");
  }
  ReadIntoAwaiter& operator=(ReadIntoAwaiter&&) = delete;
  ~ReadIntoAwaiter() {
    if (state_ == kFailed) {
      error_.~Status();
    } else if (held_) {
      // Destroyed while waiting (the task was cancelled): unhook.
      if (!fs_->closed && fs_->read_waiter == &node_) fs_->read_waiter = nullptr;
      FdState::ReleaseHold(fs_);
    }
  }

  bool await_ready() {
    if (fs_ == nullptr) {
      Finish(absl::FailedPreconditionError("read_into: the AsyncFd is closed"));
      return true;
    }
    for (;;) {
      if (fs_->readable) {
        absl::StatusOr<size_t> r = TryReadInto(fs_, buf_, max_);
        if (r.ok() || !IsWouldBlock(r.status())) {
          Finish(std::move(r));
          return true;
        }
      }
      read_buf_traits<B>::release_idle(buf_);
      if (absl::Status s = RegisterOnThisCore(fs_); !s.ok()) {
        Finish(std::move(s));
        return true;
      }
      // Registration may report readiness synchronously on some backends.
      if (!fs_->readable) return false;
    }
  }

  void await_suspend(std::coroutine_handle<> h) {
    READBUF_CHECK(fs_->read_waiter == nullptr, "two tasks reading fd %d", fs_->fd);
    node_.h = h;
    node_.scope = CurrentCore()->current_scope();
    node_.on_run = &OnReadable;
    Wait();
  }

  absl::StatusOr<size_t> await_resume() {
    READBUF_DCHECK(state_ != kPending, "read_into resumed without a result");
    if (state_ == kFailed) return std::move(error_);
    return n_;
  }

 private:
  enum State : std::uint8_t { kPending, kRead, kFailed };

  ReadIntoAwaiter(FdState* fs, B& buf, size_t max)
      : fs_(fs), buf_(buf),
        // A read never returns more than 2 GiB, so a larger cap is none.
        max_(static_cast<std::uint32_t>(std::min<size_t>(max, UINT32_MAX))) {}

  void Wait() {
    fs_->read_waiter = &node_;
    fs_->NoteSuspended(/*write=*/false);
    if (!held_) {
      held_ = true;  // the state outlives the wait (FdState::Hold)
      fs_->Hold();
    }
  }

  // Ends the read with `r`, which takes the place of fs_.
  // REQUIRES: pending; no hold (fs_ is not used again).
  void Finish(absl::StatusOr<size_t> r) {
    if (r.ok()) {
      n_ = *r;
      state_ = kRead;
    } else {
      new (&error_) absl::Status(std::move(r).status());
      state_ = kFailed;
    }
  }

  static void OnReadable(RunNode* n) {
    ReadIntoAwaiter* self = ContainerOf(n, &ReadIntoAwaiter::node_);
    FdState* fs = self->fs_;
    absl::StatusOr<size_t> r = size_t{0};
    if (fs->closed) {
      r = fs->ClosedError("read");
    } else {
      r = TryReadInto(fs, self->buf_, self->max_);
      if (!r.ok() && IsWouldBlock(r.status())) {
        read_buf_traits<B>::release_idle(self->buf_);
        self->Wait();  // spurious: the fd is marked not readable again
        return;
      }
    }
    self->held_ = false;
    FdState::ReleaseHold(fs);
    self->Finish(std::move(r));
    self->node_.h.resume();
  }

  // Fields ordered to pack: a waiting read is part of every idle
  // connection's frame (64 bytes). The fd's state until the read ends, then
  // its result in the same word (state_ says which).
  union {
    FdState* fs_;  // held (FdState::Hold) while waiting
    size_t n_;
    absl::Status error_;
  };
  B& buf_;
  RunNode node_;
  std::uint32_t max_;
  bool held_ = false;
  State state_ = kPending;
};

}  // namespace io_internal

// Waits until `fd` is readable, then try_read_into(); `co_await` it. Returns
// the bytes read; 0 means EOF. Before each wait, a deferring buffer with
// nothing filled gives its memory back (read_buf_traits<B>::release_idle), so
// an idle connection holds none. The awaitable has no coroutine frame: a
// pending read costs 64 bytes inside the caller's frame.
// REQUIRES: on the reactor core that owns `fd`; no other read in progress on
// it; `fd` and `buf` outlive the co_await.
// Errors: the buffer's prepare() error (e.g. ResourceExhausted from a capped
// pool); FailedPrecondition if the buffer has no free space; the read's errno
// (ECONNRESET, ...) as absl::ErrnoToStatus naming "read(fd=N)"; readiness
// errors; Cancelled if the fd is closed while the read waits. EINTR is
// retried; EAGAIN waits for the next edge.
// Cancellation: destroying the awaiting frame (or a timeout() around the
// read) while it waits unhooks it; nothing was read, the buffer keeps what it
// had, and a deferring buffer holds no memory.
template <ReadBuf B>
io_internal::ReadIntoAwaiter<B> read_into(AsyncFd& fd, B& buf, size_t max = 0) {
  return io_internal::ReadIntoAwaiter<B>(fd, buf, max);
}

template <ReadBuf B, HasAsyncFd S>
io_internal::ReadIntoAwaiter<B> read_into(S& stream, B& buf, size_t max = 0) {
  return io_internal::ReadIntoAwaiter<B>(stream.async_fd(), buf, max);
}

// Writes every filled byte of `buf` to `stream` (which must have write_all
// and, for vectored buffers, writev), looping over short writes. `buf` is
// not changed; clear() it afterwards. On a contiguous buffer this is
// `stream.write_all(buf.filled())` itself: no coroutine frame of its own.
// REQUIRES: `buf` and `stream` outlive the returned Task.
template <ReadBuf B, class S>
  requires(!VectoredReadBuf<B>)
Task<absl::Status> write_filled(S& stream, const B& buf) {
  return stream.write_all(buf.filled());
}

template <VectoredReadBuf B, class S>
Task<absl::Status> write_filled(S& stream, const B& buf) {
  std::array<iovec, 16> iov;
  size_t count = 0;
  for (size_t i = 0; i < buf.segment_count(); ++i) {
    std::span<const std::byte> seg = buf.filled_segment(i);
    if (seg.empty()) continue;
    if (count == iov.size()) {  // more segments than one writev: flush
      for (size_t j = 0; j < count; ++j) {
        absl::Status s = co_await stream.write_all(std::span<const std::byte>(
            static_cast<const std::byte*>(iov[j].iov_base), iov[j].iov_len));
        if (!s.ok()) co_return s;
      }
      count = 0;
    }
    iov[count++] = iovec{const_cast<std::byte*>(seg.data()), seg.size()};
  }
  size_t first = 0;
  while (first < count) {
    absl::StatusOr<size_t> n =
        co_await stream.writev(std::span<const iovec>(iov.data() + first, count - first));
    if (!n.ok()) co_return n.status();
    // A stream that accepts nothing would otherwise be asked again forever.
    if (*n == 0) co_return absl::InternalError("write_filled: writev accepted 0 bytes");
    first += io_internal::ConsumeIovecs(std::span<iovec>(iov.data() + first, count - first), *n);
  }
  co_return absl::OkStatus();
}

}  // namespace readbuf

#endif  // READBUF_IO_READ_INTO_H_
