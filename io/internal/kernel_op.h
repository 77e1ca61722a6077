// -----------------------------------------------------------------------------
// File: io/internal/kernel_op.h
// -----------------------------------------------------------------------------
//
// One-shot kernel operations (positional reads and writes, socket sends and
// receives, accept, connect, timeouts, polls) that a completion backend
// (io_uring) runs on the kernel's side while the task is suspended. Backends
// without them (epoll) report SupportsKernelOps() == false and callers use
// the plain syscall instead.
//
// Completion goes one of two ways. A task's op (sink == nullptr) pins its
// scope and is delivered to the core (Core::DeliverPinnedWake). An op with a
// KernelOpSink (io/driver.h) pins nothing and needs no core: the backend calls
// sink->OnKernelOpDone(op) from the Wait() that reaps its completion.
//
// Op slots: each core has a fixed number of them (RuntimeOptions::
// kernel_op_slots). When all are busy, Submit() queues the op intrusively
// and starts it when a slot frees: the caller waits, nothing is allocated.
//
// Cancellation: the kernel may write into the op's buffer until the op's
// completion, so a started op pins its scope (io/internal/scope.h): a
// cancel then asks the kernel to cancel the op, and the scope (the task, or
// the branch of a timeout) is destroyed when the completion arrives.
// A queued op that has not started is simply withdrawn with its frame.
// Closing the fd a queued op names ends that op with -ECANCELED before the
// number can be reused (Backend::EndQueuedOps).

#ifndef READBUF_IO_INTERNAL_KERNEL_OP_H_
#define READBUF_IO_INTERNAL_KERNEL_OP_H_

#include <coroutine>
#include <cstddef>
#include <cstdint>

#include "buf/internal/check.h"
#include "io/internal/core.h"

namespace readbuf {
namespace io_internal {

struct KernelOp;

// Receives the completions of ops submitted with `KernelOp::sink` set.
class KernelOpSink {
 public:
  // `op->result` holds the CQE's res; op->state is kDone. The op and its
  // memory may be reused or freed from here on.
  virtual void OnKernelOpDone(KernelOp* op) = 0;

 protected:
  ~KernelOpSink() = default;
};

// The state of one operation; lives in the awaiting coroutine frame (or a
// driver's slot).
//
// Fields per kind (`extra` points at memory owned by the submitter that
// lives until the completion):
//   kRead, kWrite:     fd, buf, len, offset
//   kReadV, kWriteV:   fd, extra = iovec[len], offset
//   kRecv, kSend:      fd, buf, len, op_flags = MSG_* flags
//   kRecvMsg, kSendMsg: fd, extra = msghdr, op_flags = MSG_* flags
//   kAccept:           fd, op_flags = SOCK_NONBLOCK | SOCK_CLOEXEC, ...
//   kConnect:          fd, extra = sockaddr, len = its length
//   kTimeout:          extra = __kernel_timespec, op_flags = IORING_TIMEOUT_*
//   kPoll:             fd, op_flags = poll mask (one-shot)
struct KernelOp {
  enum class Kind : std::uint8_t {
    kRead,
    kWrite,
    kReadV,
    kWriteV,
    kRecv,
    kSend,
    kRecvMsg,
    kSendMsg,
    kAccept,
    kConnect,
    kTimeout,
    kPoll,
  };
  enum class State : std::uint8_t { kIdle, kQueued, kStarted, kDone };

  Kind kind = Kind::kRead;
  State state = State::kIdle;
  int fd = -1;
  void* buf = nullptr;
  std::uint32_t len = 0;
  std::uint32_t op_flags = 0;  // kind-specific flags (see above)
  std::uint64_t offset = 0;
  std::int32_t result = 0;  // the CQE's res: bytes, or -errno
  // When >= 0, the op names `fd` by this index of the backend's
  // registered-file table (Backend::RegisteredFileIndex) instead.
  std::int32_t file_index = -1;
  RunNode run;              // scheduled at completion (sink == nullptr)
  KernelOpSink* sink = nullptr;  // when set: no scope pin, no core
  void* extra = nullptr;         // kind-specific (see above)
  KernelOp* next = nullptr;  // backend's slot-wait queue
  KernelOp* prev = nullptr;
};

// Counters of one core's kernel ops.
struct KernelOpStats {
  std::uint32_t slots = 0;           // op slots on this core
  std::uint64_t started = 0;         // ops handed to the kernel
  std::uint64_t waited_for_slot = 0;  // ops that queued for a free slot
  std::uint64_t in_flight = 0;       // started, completion not yet seen
  std::uint64_t queued = 0;          // waiting for a slot now
  std::uint64_t cancels = 0;         // cancel requests sent to the kernel
};

// `co_await KernelOpAwaiter(op)` submits `op` through the current core's
// backend and resumes with op.result once the kernel completes it.
// REQUIRES: on a core whose backend SupportsKernelOps(); `op` and the memory
// it names outlive the await (they do when both live in the awaiting frame).
class KernelOpAwaiter {
 public:
  explicit KernelOpAwaiter(KernelOp* op) : op_(op) {}
  KernelOpAwaiter(const KernelOpAwaiter&) = delete;
  KernelOpAwaiter& operator=(const KernelOpAwaiter&) = delete;
  ~KernelOpAwaiter() {
    // A frame destroyed while its op waits for a slot leaves the queue; a
    // started op pins its scope until it completes.
    READBUF_CHECK(op_->state != KernelOp::State::kStarted,
                  "frame of a started kernel op destroyed before its completion");
    if (op_->state == KernelOp::State::kQueued) core_->backend()->Withdraw(op_);
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    core_ = CurrentCore();
    READBUF_CHECK(core_ != nullptr && core_->backend()->SupportsKernelOps(),
                  "kernel op awaited off a core or on a backend without kernel ops");
    op_->run.h = h;
    op_->run.scope = core_->current_scope();
    core_->backend()->Submit(op_);
  }
  std::int32_t await_resume() const noexcept { return op_->result; }

 private:
  KernelOp* op_;
  Core* core_ = nullptr;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_KERNEL_OP_H_
