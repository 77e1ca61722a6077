#include "io/async_fd.h"

#include <coroutine>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/core.h"

namespace readbuf {

AsyncFd::AsyncFd(int fd)
    : fs_(new io_internal::FdState(fd, io_internal::FdShape::kUnknown)) {}

AsyncFd AsyncFd::StreamFd(int fd) {
  AsyncFd a;
  a.fs_ = new io_internal::FdState(fd, io_internal::FdShape::kStream);
  return a;
}

void AsyncFd::close() {
  if (fs_ != nullptr) io_internal::CloseFdState(std::exchange(fs_, nullptr));
}

AsyncFd::ReadinessAwaiter::~ReadinessAwaiter() {
  if (hold_.held() && !hold_.closed() && slot() == &run_) slot() = nullptr;
}

namespace io_internal {

absl::Status RegisterOnThisCore(FdState* fs) {
  READBUF_CHECK(fs != nullptr, "waiting on a closed AsyncFd");
  Core* core = CurrentCore();
  READBUF_CHECK(core != nullptr, "waiting for an fd outside a reactor core");
  Core* owner = fs->owner();
  if (owner == nullptr) return core->Register(fs);
  READBUF_CHECK(owner == core, "fd %d used on core %d, registered on %d", fs->fd,
                core->index(), owner->index());
  return absl::OkStatus();
}

}  // namespace io_internal

bool AsyncFd::ReadinessAwaiter::await_ready() {
  if (fs_ == nullptr) {
    status_ = absl::FailedPreconditionError(
        absl::StrCat("waiting for ", write_ ? "writability" : "readability",
                     " on a closed AsyncFd"));
    return true;
  }
  if (write_ ? fs_->writable : fs_->readable) return true;
  status_ = io_internal::RegisterOnThisCore(fs_);
  if (!status_.ok()) return true;
  // Registration may have reported readiness synchronously on some backends.
  return write_ ? fs_->writable : fs_->readable;
}

void AsyncFd::ReadinessAwaiter::await_suspend(std::coroutine_handle<> h) {
  READBUF_CHECK(slot() == nullptr, "two tasks waiting for %s on fd %d",
                write_ ? "writability" : "readability", fs_->fd);
  io_internal::Core* core = io_internal::CurrentCore();
  run_.h = h;
  run_.scope = core->current_scope();
  slot() = &run_;
  hold_.Take(fs_);
  fs_->NoteSuspended(write_);
}

absl::Status AsyncFd::ReadinessAwaiter::await_resume() {
  if (hold_.closed()) {
    status_ = fs_->ClosedError(write_ ? "writable" : "readable");
  }
  hold_.Release();
  return std::move(status_);
}

}  // namespace readbuf
