// -----------------------------------------------------------------------------
// File: io/internal/pooled_read_awaiter.h
// -----------------------------------------------------------------------------
//
// The awaitable behind pooled_read() and pooled_read_callback()
// (io/pooled_ops.h). It has no coroutine frame of its own: an idle
// connection's pending read costs this object inside the caller's frame,
// and no pool memory.
//
// Paths, chosen at the first await:
//   ring       the core's provided-buffer ring (io/ring_read.h): Take the
//              next received block; wait for a completion if none.
//   fallback   the ring ran dry (ENOBUFS) or refuses this fd: one readiness
//              read into a Pooled buffer, then the ring again.
//   readiness  no ring (epoll): wait for readability, then read into a
//              Pooled buffer, whose block becomes the result.
// Waiting hooks a RunNode whose on_run retries on the core and resumes the
// caller only with a result, so a wake-up without data costs no resumption.

#ifndef READBUF_IO_INTERNAL_POOLED_READ_AWAITER_H_
#define READBUF_IO_INTERNAL_POOLED_READ_AWAITER_H_

#include <coroutine>
#include <cstddef>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "io/async_fd.h"
#include "io/internal/core.h"
#include "io/io_status.h"
#include "io/read_into.h"
#include "io/ring_read.h"

namespace readbuf {
namespace io_internal {

class PooledReadAwaiter {
 public:
  using Result = absl::StatusOr<std::optional<PoolBytes>>;

  // REQUIRES: `fd` outlives the co_await.
  PooledReadAwaiter(AsyncFd& fd, size_t max) : fd_(fd), fs_(AsyncFdAccess::State(fd)), max_(max) {
    node_.self = this;
  }
  // Movable until awaited (timeout() takes it by value).
  PooledReadAwaiter(PooledReadAwaiter&& o) noexcept : PooledReadAwaiter(o.fd_, o.max_) {
    READBUF_DCHECK(o.wait_ == Wait::kNone && !o.hold_.held(), "moving a pooled read that is waiting");
  }
  PooledReadAwaiter& operator=(PooledReadAwaiter&&) = delete;
  ~PooledReadAwaiter() {
    // Destroyed while waiting (the task was cancelled): unhook. A ring
    // recv is cancelled; bytes that still complete stay queued. After a
    // close the ring state and the wait slot are gone already.
    if (hold_.closed()) return;
    if (wait_ == Wait::kRing) rc_.ring->AbandonWait(rc_.conn, &node_);
    if (wait_ == Wait::kReadable && fs_->read_waiter == &node_) fs_->read_waiter = nullptr;
  }

  bool await_ready() {
    if (fs_ == nullptr) {
      error_ = absl::FailedPreconditionError("pooled_read: the AsyncFd is closed");
      return true;
    }
    rc_ = AttachRing(fd_);
    return rc_ ? StepRing() : StepReadable();
  }

  void await_suspend(std::coroutine_handle<> h) {
    node_.h = h;
    node_.scope = CurrentCore()->current_scope();
    node_.on_run = &OnRun;
    Hook();
  }

  Result await_resume() {
    if (!error_.ok()) return std::move(error_);
    return std::move(bytes_);
  }

 protected:
  // The outcome, for a subclass's await_resume: an error, or the bytes
  // (empty at EOF).
  const absl::Status& error() const { return error_; }
  std::optional<PoolBytes>& bytes() { return bytes_; }

 private:
  enum class Wait : std::uint8_t { kNone, kRing, kReadable };
  struct Node : RunNode {
    PooledReadAwaiter* self = nullptr;
  };

  // Each Step either sets result_ and returns true, or sets wait_ (what to
  // wait for) and returns false.
  bool StepRing() {
    for (;;) {
      RingResult r;
      r.kind = rc_.ring->Take(rc_.conn, max_, &r.bytes, &r.error);
      switch (r.kind) {
        case RecvTake::kData:
          bytes_.emplace(std::move(r.bytes));
          return true;
        case RecvTake::kEof:
          return true;  // bytes_ stays empty
        case RecvTake::kError:
          error_ = std::move(r.error);
          return true;
        case RecvTake::kWait:
          wait_ = Wait::kRing;
          return false;
        case RecvTake::kFallback:
          in_fallback_ = true;
          return StepReadable();
      }
    }
  }

  bool StepReadable() {
    if (!buf_.has_value()) buf_.emplace(max_ == 0 ? Pooled() : Pooled(max_));
    for (;;) {
      if (fd_.is_readable()) {
        absl::StatusOr<size_t> n = try_read_into(fd_, *buf_, max_);
        if (n.ok() || !IsWouldBlock(n.status())) {
          if (in_fallback_) {
            rc_.ring->EndFallback(rc_.conn);
            in_fallback_ = false;
          }
          if (!n.ok()) {
            error_ = n.status();
          } else if (*n != 0) {
            bytes_.emplace(buf_->take_filled());
          }  // else EOF: bytes_ stays empty
          return true;
        }
      }
      buf_->release_idle();
      if (absl::Status s = RegisterOnThisCore(fs_); !s.ok()) {
        error_ = std::move(s);
        return true;
      }
      if (!fd_.is_readable()) {
        wait_ = Wait::kReadable;
        return false;
      }
    }
  }

  void Hook() {
    if (wait_ == Wait::kRing) {
      rc_.ring->SetWaiter(rc_.conn, &node_);
    } else {
      READBUF_CHECK(fs_->read_waiter == nullptr, "two tasks reading fd %d", fs_->fd);
      fs_->read_waiter = &node_;
      fs_->NoteSuspended(/*write=*/false);
    }
    hold_.Take(fs_);
  }

  static void OnRun(RunNode* n) {
    PooledReadAwaiter* self = static_cast<Node*>(n)->self;
    const Wait was = std::exchange(self->wait_, Wait::kNone);
    if (self->hold_.closed()) {
      self->error_ = self->fs_->ClosedError(was == Wait::kRing ? "recv" : "read");
    } else {
      const bool done = was == Wait::kRing ? self->StepRing() : self->StepReadable();
      if (!done) {
        self->Hook();
        return;
      }
    }
    self->hold_.Release();
    self->node_.h.resume();
  }

  AsyncFd& fd_;
  FdState* fs_;
  size_t max_;
  RingConn rc_;
  Wait wait_ = Wait::kNone;
  bool in_fallback_ = false;
  std::optional<Pooled> buf_;  // readiness and fallback reads only
  absl::Status error_;               // set: the read failed
  std::optional<PoolBytes> bytes_;   // the bytes read; empty at EOF
  FdHold hold_;                      // while suspended
  Node node_;
};

// pooled_read_callback's awaitable: the same read, then `fn` sees the bytes
// and the block goes back to the pool before the caller resumes.
template <class Fn>
class PooledReadCallbackAwaiter : public PooledReadAwaiter {
 public:
  PooledReadCallbackAwaiter(AsyncFd& fd, size_t max, Fn fn)
      : PooledReadAwaiter(fd, max), fn_(std::move(fn)) {}
  PooledReadCallbackAwaiter(PooledReadCallbackAwaiter&& o) noexcept
      : PooledReadAwaiter(std::move(o)), fn_(std::move(o.fn_)) {}

  absl::StatusOr<size_t> await_resume() {
    if (!error().ok()) return error();
    if (!bytes().has_value()) return size_t{0};
    const size_t n = bytes()->size();
    fn_(bytes()->span());
    bytes().reset();  // the block goes back to the pool now
    return n;
  }

 private:
  Fn fn_;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_POOLED_READ_AWAITER_H_
