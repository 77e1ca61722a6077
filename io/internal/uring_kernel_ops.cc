// -----------------------------------------------------------------------------
// File: io/internal/uring_kernel_ops.cc
// -----------------------------------------------------------------------------
//
// One-shot kernel ops on the io_uring backend (io/internal/kernel_op.h; see
// uring_backend.h): a fixed table of op slots separate from the fd slots,
// an intrusive queue for ops that find none (nothing is allocated), the
// scope pin that keeps a cancelled task's buffer alive until the kernel's
// completion, ASYNC_CANCEL for the ops of a cancelled scope, and the sink
// mode a Driver (io/driver.h) uses: no pin, completion handed to the sink.
// Thread safety: the owning thread only (a core's, or a driver's).

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "buf/internal/check.h"
#include "io/internal/scope.h"
#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

void UringBackend::Submit(KernelOp* op) {
  READBUF_DCHECK(op->state == KernelOp::State::kIdle, "kernel op submitted twice");
  if (free_ops_.empty()) {
    op->state = KernelOp::State::kQueued;
    op->next = nullptr;
    op->prev = op_queue_tail_;
    if (op_queue_tail_ != nullptr) {
      op_queue_tail_->next = op;
    } else {
      op_queue_head_ = op;
    }
    op_queue_tail_ = op;
    ++op_stats_.waited_for_slot;
    ++op_stats_.queued;
    return;
  }
  StartOp(op);
}

void UringBackend::Withdraw(KernelOp* op) {
  READBUF_DCHECK(op->state == KernelOp::State::kQueued, "withdrawing an op that is not queued");
  UnlinkQueued(op);
  op->state = KernelOp::State::kIdle;
}

void UringBackend::CancelKernelOps(Scope* scope) {
  for (std::uint32_t i = 0; i < ops_.size(); ++i) {
    KernelOp* op = ops_[i];
    if (op == nullptr || op->sink != nullptr || !ScopeWithin(op->run.scope, scope)) continue;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, OpUserData(i), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
    ++op_stats_.cancels;
  }
}

void UringBackend::CancelKernelOp(KernelOp* op) {
  READBUF_DCHECK(op->sink != nullptr, "CancelKernelOp on an op without a sink");
  if (op->state == KernelOp::State::kQueued) {
    UnlinkQueued(op);
    op->result = -ECANCELED;
    op->state = KernelOp::State::kDone;
    op->sink->OnKernelOpDone(op);
    return;
  }
  if (op->state != KernelOp::State::kStarted) return;
  for (std::uint32_t i = 0; i < ops_.size(); ++i) {
    if (ops_[i] != op) continue;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, OpUserData(i), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
    ++op_stats_.cancels;
    return;
  }
}

void UringBackend::EndQueuedOps(int fd) {
  KernelOp* op = op_queue_head_;
  while (op != nullptr) {
    KernelOp* next = op->next;
    if (op->fd == fd) {
      UnlinkQueued(op);
      op->result = -ECANCELED;
      op->state = KernelOp::State::kDone;
      if (op->sink != nullptr) {
        op->sink->OnKernelOpDone(op);
      } else {
        CurrentCore()->Schedule(&op->run);  // unpinned: it never started
      }
    }
    op = next;
  }
}

void UringBackend::DetachFromThread() {
  if (tls_thread_ring == this) tls_thread_ring = nullptr;
}

void UringBackend::GetKernelOpStats(KernelOpStats* out) const {
  *out = op_stats_;
  out->slots = static_cast<std::uint32_t>(ops_.size());
}

void UringBackend::StartOp(KernelOp* op) {
  const std::uint32_t idx = free_ops_.back();
  free_ops_.pop_back();
  ops_[idx] = op;
  ++op_gens_[idx];
  // The kernel may write into op->buf until the completion: the scope
  // holding it must not be destroyed before it (see kernel_op.h). A
  // sink's op has no scope; its owner keeps the memory alive.
  if (op->sink == nullptr) {
    const bool pinned = op->run.scope->TryAcquireWake();
    READBUF_CHECK(pinned, "kernel op started in a scope that is being destroyed");
  }
  op->state = KernelOp::State::kStarted;
  ++op_stats_.started;
  ++op_stats_.in_flight;
  io_uring_sqe* sqe = GetSqe();
  switch (op->kind) {
    case KernelOp::Kind::kRead:
      io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->offset);
      break;
    case KernelOp::Kind::kWrite:
      io_uring_prep_write(sqe, op->fd, op->buf, op->len, op->offset);
      break;
    case KernelOp::Kind::kReadV:
      io_uring_prep_readv(sqe, op->fd, static_cast<const iovec*>(op->extra), op->len, op->offset);
      break;
    case KernelOp::Kind::kWriteV:
      io_uring_prep_writev(sqe, op->fd, static_cast<const iovec*>(op->extra), op->len, op->offset);
      break;
    case KernelOp::Kind::kRecv:
      io_uring_prep_recv(sqe, op->fd, op->buf, op->len, static_cast<int>(op->op_flags));
      break;
    case KernelOp::Kind::kSend:
      io_uring_prep_send(sqe, op->fd, op->buf, op->len, static_cast<int>(op->op_flags));
      break;
    case KernelOp::Kind::kRecvMsg:
      io_uring_prep_recvmsg(sqe, op->fd, static_cast<msghdr*>(op->extra), op->op_flags);
      break;
    case KernelOp::Kind::kSendMsg:
      io_uring_prep_sendmsg(sqe, op->fd, static_cast<const msghdr*>(op->extra), op->op_flags);
      break;
    case KernelOp::Kind::kAccept:
      io_uring_prep_accept(sqe, op->fd, nullptr, nullptr, static_cast<int>(op->op_flags));
      break;
    case KernelOp::Kind::kConnect:
      io_uring_prep_connect(sqe, op->fd, static_cast<const sockaddr*>(op->extra), op->len);
      break;
    case KernelOp::Kind::kTimeout:
      io_uring_prep_timeout(sqe, static_cast<__kernel_timespec*>(op->extra), 0, op->op_flags);
      break;
    case KernelOp::Kind::kPoll:
      io_uring_prep_poll_add(sqe, op->fd, op->op_flags);
      break;
  }
  if (op->file_index >= 0) {
    sqe->fd = op->file_index;
    sqe->flags |= IOSQE_FIXED_FILE;
  }
  io_uring_sqe_set_data64(sqe, OpUserData(idx));
}

void UringBackend::UnlinkQueued(KernelOp* op) {
  if (op->prev != nullptr) {
    op->prev->next = op->next;
  } else {
    op_queue_head_ = op->next;
  }
  if (op->next != nullptr) {
    op->next->prev = op->prev;
  } else {
    op_queue_tail_ = op->prev;
  }
  op->next = op->prev = nullptr;
  --op_stats_.queued;
}

void UringBackend::DispatchOp(std::uint32_t idx, std::uint32_t gen, std::int32_t res) {
  if (idx >= ops_.size() || op_gens_[idx] != gen || ops_[idx] == nullptr) return;
  KernelOp* op = std::exchange(ops_[idx], nullptr);
  free_ops_.push_back(idx);
  --op_stats_.in_flight;
  op->result = res;
  op->state = KernelOp::State::kDone;
  // Start a queued op first: delivering may destroy a cancelled task's
  // frame (and with it a queued op of that task).
  if (KernelOp* next = op_queue_head_) {
    UnlinkQueued(next);
    StartOp(next);
  }
  if (op->sink != nullptr) {
    op->sink->OnKernelOpDone(op);
    return;
  }
  CurrentCore()->DeliverPinnedWake(&op->run);
}

}  // namespace io_internal
}  // namespace readbuf
