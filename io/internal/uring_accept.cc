// -----------------------------------------------------------------------------
// File: io/internal/uring_accept.cc
// -----------------------------------------------------------------------------
//
// Multishot accept on the io_uring backend (see uring_backend.h): a
// listener's first TakeAccepted arms one IORING_OP_ACCEPT that keeps
// accepting; connections queue on the listener's AcceptState (at most
// kMaxQueuedAccepts, then the accept is cancelled and the kernel's backlog
// holds the rest). Errors are reported once, EINVAL turns it off for the
// core, and a closed listener closes every queued connection.
// Thread safety: the core's thread only.

#include <errno.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "buf/internal/check.h"
#include "io/internal/fd_state.h"
#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

namespace {

constexpr std::size_t kMaxQueuedAccepts = 256;

}  // namespace

AcceptTake UringBackend::TakeAccepted(FdState* listener, int* fd, int* error) {
  Slot& ls = slots_[listener->backend_slot];
  READBUF_DCHECK(ls.in_use && ls.fs == listener, "fd %d is not registered with this core",
                 listener->fd);
  ls.is_listener = true;  // its close releases the file at once (Deregister)
  if (accept_unsupported_) return AcceptTake::kUnsupported;
  if (ls.accept == nullptr) ls.accept = new AcceptState(listener);
  AcceptState* a = ls.accept;
  if (a->queued() != 0) {
    *fd = a->fds[a->head++];
    if (a->head == a->fds.size()) {
      a->fds.clear();
      a->head = 0;
    }
    return AcceptTake::kFd;
  }
  if (a->error != 0) {
    *error = std::exchange(a->error, 0);
    return AcceptTake::kError;
  }
  if (a->armed) return AcceptTake::kWait;
  if (free_head_ >= slots_.size()) return AcceptTake::kUnsupported;  // no slot: accept4 once
  ArmAccept(a);
  return AcceptTake::kWait;
}

void UringBackend::SetAcceptWaiter(FdState* listener, RunNode* node) {
  AcceptState* a = slots_[listener->backend_slot].accept;
  READBUF_CHECK(a != nullptr && a->waiter == nullptr,
                "two tasks accepting on listener fd %d", listener->fd);
  a->waiter = node;
}

void UringBackend::AbandonAcceptWait(FdState* listener, RunNode* node) {
  AcceptState* a = slots_[listener->backend_slot].accept;
  if (a != nullptr && a->waiter == node) a->waiter = nullptr;
}

void UringBackend::ArmAccept(AcceptState* a) {
  const std::uint32_t idx = TakeSlot();
  slots_[idx].accept = a;
  slots_[idx].is_accept = true;
  a->op = idx;
  a->armed = true;
  a->cancel_sent = false;
  ++accept_arms_;
  ++accepts_in_flight_;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_multishot_accept(sqe, a->fs->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, UserData(idx));
}

void UringBackend::CancelAccept(AcceptState* a) {
  a->cancel_sent = true;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_cancel64(sqe, UserData(a->op), 0);
  io_uring_sqe_set_data64(sqe, kIgnoreData);
}

void UringBackend::CloseQueued(AcceptState* a) {
  for (std::size_t i = a->head; i < a->fds.size(); ++i) ::close(a->fds[i]);
  a->fds.clear();
  a->head = 0;
}

void UringBackend::DetachAccept(AcceptState* a) {
  if (RunNode* w = std::exchange(a->waiter, nullptr)) CurrentCore()->Schedule(w);
  a->fs = nullptr;
  CloseQueued(a);
  if (a->armed) {
    if (!a->cancel_sent) CancelAccept(a);
    return;
  }
  delete a;
}

void UringBackend::DispatchAccept(std::uint32_t idx, io_uring_cqe* cqe) {
  AcceptState* a = slots_[idx].accept;
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  const int res = cqe->res;
  if (res >= 0) {
    if (a->fs == nullptr) {
      ::close(res);  // the listener is gone
    } else {
      a->fds.push_back(res);
      ++accepted_;
      if (a->queued() >= kMaxQueuedAccepts && more && !a->cancel_sent) CancelAccept(a);
    }
  }
  if (!more) {
    FreeSlot(idx);
    a->armed = false;
    --accepts_in_flight_;
    if (a->fs == nullptr) {
      CloseQueued(a);
      delete a;
      return;
    }
    if (res == -EINVAL || res == -EOPNOTSUPP) {
      accept_unsupported_ = true;  // readiness + accept4 from now on
    } else if (res < 0 && res != -ECANCELED) {
      a->error = -res;
    }
  }
  if (RunNode* w = std::exchange(a->waiter, nullptr)) CurrentCore()->Schedule(w);
}

}  // namespace io_internal
}  // namespace readbuf
