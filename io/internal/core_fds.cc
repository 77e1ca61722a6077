// Fds on a core: registering one with the core's backend, the readiness
// the backend reports for it (OnReadiness wakes its waiters), and closing it
// (CloseOwned; CloseFdState from any thread, through the inbox off-core).
// REQUIRES: on the fd's core, except CloseFdState (any thread). Thread
// safety: as core.h; FdState::owner() says which core owns the fd, from any
// thread (null: unregistered or orphaned).

#include "io/internal/core.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "io/internal/fd_state.h"
#include "io/internal/nodes.h"

namespace readbuf {
namespace io_internal {
namespace {

// Ends the ops queued on this core for `fd`'s number before the number can
// name another file (Backend::EndQueuedOps). Off a core, nothing of this
// thread can be queued.
void EndQueuedOps(int fd) {
  if (Core* core = CurrentCore()) core->backend()->EndQueuedOps(fd);
}

void CloseAndDelete(FdState* fs) {
  if (fs->fd >= 0) {
    EndQueuedOps(fs->fd);
    ::close(fs->fd);  // close() is never retried on EINTR.
  }
  delete fs;
}

// A close requested from another thread (rare: it is allocated then, so an
// FdState carries no message of its own).
struct CloseFdMsg {
  MsgNode msg;
  FdState* fs;
};

}  // namespace

void HandleCloseFd(Core* core, MsgNode* m) {
  CloseFdMsg* c = ContainerOf(m, &CloseFdMsg::msg);
  FdState* fs = c->fs;
  delete c;
  if (fs->owner() != nullptr) {
    core->CloseOwned(fs);
  } else {
    CloseAndDelete(fs);
  }
}

void CloseFdState(FdState* fs) {
  Core* core = fs->owner();
  if (core == nullptr) {
    CloseAndDelete(fs);
  } else if (core == CurrentCore()) {
    core->CloseOwned(fs);
  } else {
    auto* c = new CloseFdMsg{MsgNode{nullptr, &HandleCloseFd}, fs};
    // A finished core has already orphaned the fd (under its inbox lock).
    if (!core->Post(&c->msg)) {
      delete c;
      CloseAndDelete(fs);
    }
  }
}

absl::Status Core::Register(FdState* fs) {
  absl::Status s = backend_->Register(fs);
  if (!s.ok()) return s;
  link_->Ref();
  // A state orphaned by an exited core drops that core's link.
  if (CoreLink* old = fs->link.exchange(link_, std::memory_order_acq_rel)) old->Unref();
  return absl::OkStatus();
}

void Core::Unregister(FdState* fs) {
  // The backend wakes waiters it keeps itself (ring reads, kernel accepts).
  backend_->Deregister(fs);
  if (CoreLink* l = fs->link.exchange(nullptr, std::memory_order_acq_rel)) l->Unref();
}

void Core::CloseOwned(FdState* fs) {
  Unregister(fs);
  if (fs->holds == 0) {
    CloseAndDelete(fs);
    return;
  }
  // Operations are suspended on it: close now, end them with an error, and
  // let the last one free the state.
  EndQueuedOps(fs->fd);
  ::close(fs->fd);
  fs->closed = true;
  if (RunNode* w = std::exchange(fs->read_waiter, nullptr)) Schedule(w);
  if (RunNode* w = std::exchange(fs->write_waiter, nullptr)) Schedule(w);
}

void Core::OnReadiness(FdState* fs, std::uint32_t bits) {
  if (bits & kReadClosed) fs->read_closed = true;
  if (bits & kWriteClosed) fs->write_closed = true;
  if (bits & (kReadable | kReadClosed)) {
    fs->readable = true;
    fs->NoteSuspended(/*write=*/false);
    if (RunNode* w = std::exchange(fs->read_waiter, nullptr)) Schedule(w);
  }
  if (bits & (kWritable | kWriteClosed)) {
    fs->writable = true;
    fs->NoteSuspended(/*write=*/true);
    if (RunNode* w = std::exchange(fs->write_waiter, nullptr)) Schedule(w);
  }
}

}  // namespace io_internal
}  // namespace readbuf
