// -----------------------------------------------------------------------------
// File: io/internal/backend.h
// -----------------------------------------------------------------------------
//
// The interface between a reactor Core and the kernel. A Backend is chosen at
// runtime (RuntimeOptions::backend, READBUF_BACKEND) and owned by one Core; it
// is created and used on that core's thread only, except Notify().
//
// A backend reports readiness of registered fds through
// `ReadinessSink::OnReadiness` and wakes from Wait() when another thread calls
// Notify(). The epoll backend rings an eventfd; an io_uring backend can
// implement Notify() with IORING_OP_MSG_RING from the sender's ring instead,
// which is why the doorbell is behind this interface rather than in Core.

#ifndef READBUF_IO_INTERNAL_BACKEND_H_
#define READBUF_IO_INTERNAL_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace readbuf {
namespace io_internal {

struct FdState;
struct KernelOp;
struct RunNode;
struct KernelOpStats;
class RecvRing;
class Scope;

// Receives readiness: `bits` are kReadable, kWritable, kReadClosed and
// kWriteClosed (io/internal/fd_state.h).
class ReadinessSink {
 public:
  virtual void OnReadiness(FdState* fs, std::uint32_t bits) = 0;

 protected:
  ~ReadinessSink() = default;
};

// How a core was woken by other threads (see Backend::Notify).
struct DoorbellStats {
  std::uint64_t eventfd_writes = 0;     // wakes sent by writing the eventfd
  std::uint64_t msg_ring_sends = 0;     // wakes this core sent as MSG_RING
  std::uint64_t msg_ring_received = 0;  // MSG_RING wakes this core received
  std::uint64_t msg_ring_failures = 0;  // sends that failed (then eventfd)
};

// The result of Backend::TakeAccepted.
enum class AcceptTake : std::uint8_t {
  kFd,           // `*fd` is a new connection (non-blocking, close-on-exec)
  kWait,         // none yet: SetAcceptWaiter, then Take again
  kError,        // `*error` is the errno the accept ended with (reported once)
  kUnsupported,  // use readiness + accept4 (this time or always)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "epoll" or "io_uring".
  virtual const char* name() const = 0;

  // Starts watching fs->fd for edge-triggered readability and writability,
  // once per fd for its whole life.
  virtual absl::Status Register(FdState* fs) = 0;

  // Stops watching; no OnReadiness for `fs` is delivered after it returns.
  // A task waiting in the backend on `fs` (a ring read, a kernel accept) is
  // scheduled; it finds the fd closed (FdState::closed) when it runs.
  virtual void Deregister(FdState* fs) = 0;

  // Deregisters every fd still registered, as the core exits (it keeps no
  // list of them; see CoreLink). A backend with no per-fd state of its own
  // has nothing to do: its kernel object goes with it.
  virtual void DeregisterAll() {}

  // Waits for readiness, a Notify(), or `deadline_ns` (CLOCK_BOOTTIME) and
  // reports readiness to the sink. nullopt waits without limit; a deadline
  // not after now (0, say) only polls. io_uring waits on CLOCK_BOOTTIME
  // itself (kernel >= 6.12), so a deadline that passes while the machine is
  // suspended ends the wait at resume; epoll waits a relative time on
  // CLOCK_MONOTONIC, which a suspend stretches.
  virtual void Wait(std::optional<std::int64_t> deadline_ns,
                    ReadinessSink* sink) = 0;

  // Wakes a Wait() in progress or the next one.
  // Thread safety: callable from any thread.
  virtual void Notify() = 0;

  virtual DoorbellStats doorbell_stats() const { return {}; }

  // True when Wait() sleeps until an absolute CLOCK_BOOTTIME deadline in the
  // kernel (io_uring on Linux >= 6.12); false when it converts the deadline
  // to a relative CLOCK_MONOTONIC timeout (epoll, older kernels).
  virtual bool waits_on_boottime() const { return false; }

  // The core's provided-buffer receive ring (io/internal/recv_ring.h), or
  // null when the backend has none (epoll).
  virtual RecvRing* recv_ring() { return nullptr; }

  // --- Multishot accept (io_uring) ---
  // Takes the next connection the kernel accepted for the listening socket
  // `listener` without waiting; arms a multishot accept when none is armed.
  // REQUIRES: listener registered with this backend.
  virtual AcceptTake TakeAccepted(FdState* listener, int* fd, int* error) {
    (void)listener, (void)fd, (void)error;
    return AcceptTake::kUnsupported;
  }
  // Connections accepted by multishot accepts so far.
  virtual std::uint64_t kernel_accepts() const { return 0; }
  // Resumes `node` at the next accept completion for `listener`.
  // REQUIRES: TakeAccepted returned kWait; no other waiter.
  virtual void SetAcceptWaiter(FdState* listener, RunNode* node) { (void)listener, (void)node; }
  // The waiting task went away: forgets `node` if it is still the waiter.
  virtual void AbandonAcceptWait(FdState* listener, RunNode* node) {
    (void)listener, (void)node;
  }

  // --- One-shot kernel operations (io/internal/kernel_op.h) ---
  // True when Submit() works (io_uring); false on readiness backends.
  virtual bool SupportsKernelOps() const { return false; }
  // Starts `op` (state kStarted: it pins op->run.scope until its
  // completion is delivered), or, when every op slot is busy,
  // queues it (kQueued) to start when one frees.
  // REQUIRES: SupportsKernelOps(); op->state == kIdle.
  virtual void Submit(KernelOp* op) { (void)op; }
  // Removes a queued op. REQUIRES: op->state == kQueued.
  virtual void Withdraw(KernelOp* op) { (void)op; }
  // Asks the kernel to cancel the started ops inside `scope` (a cancel
  // request could not destroy it because they pin it). They still complete.
  virtual void CancelKernelOps(Scope* scope) { (void)scope; }
  // Asks the kernel to cancel one op submitted with a KernelOpSink. A
  // started op still completes (-ECANCELED, or its result if it won the
  // race); a queued one is withdrawn and delivered to its sink at once with
  // -ECANCELED. REQUIRES: op->sink != nullptr; op->state is kQueued or
  // kStarted.
  virtual void CancelKernelOp(KernelOp* op) { (void)op; }
  // `fd` is being closed. Queued ops name their file by number (or by its
  // registered-file index), which another file may take once this one is
  // closed, so each queued op on `fd` ends now with -ECANCELED, never
  // started: a task's op is scheduled, a sink's delivered. Started ops are
  // unaffected (the kernel resolved their file when it took them).
  virtual void EndQueuedOps(int fd) { (void)fd; }
  // This backend serves a driver (io/driver.h) rather than a core: the
  // calling thread's cross-core wakes stop going out through its ring
  // (which enters only when the driver's owner waits) and use eventfds.
  // REQUIRES: on the thread that created the backend, which runs no core.
  virtual void DetachFromThread() {}
  // Fills `out` (zeros when unsupported).
  virtual void GetKernelOpStats(KernelOpStats* out) const { (void)out; }
  // The index under which `fs` is in the backend's registered-file table (a
  // kernel op on it may name the index instead of the fd: KernelOp::
  // file_index), or -1. Valid until `fs` is deregistered.
  virtual std::int32_t RegisteredFileIndex(const FdState* fs) const {
    (void)fs;
    return -1;
  }

  // Called once on the core's thread after its last task and after every fd
  // was deregistered: submits what the last iteration queued (wake-ups for
  // other cores among them), waits for the terminal completion of every
  // operation that may still write into user memory, then frees that memory.
  virtual void Quiesce() {}
};

// Creates the epoll backend (epoll fd + eventfd doorbell).
absl::StatusOr<std::unique_ptr<Backend>> MakeEpollBackend();

// Testing: the next `n` submissions (io_uring_submit, outside the wait) of
// the io_uring backend on the calling thread fail with -`err` (EBUSY or
// EAGAIN) before reaching the kernel, as a CQ overflow or a memory shortage
// would make them. REQUIRES: on a core running io_uring.
void InjectSubmitFailuresForTesting(int n, int err);
// How many of them have not happened yet.
int InjectedSubmitFailuresLeftForTesting();

// Creates the io_uring backend on the calling thread (SINGLE_ISSUER: the
// ring is bound to it). Fails where io_uring or the flags are unavailable.
// `kernel_op_slots`: how many one-shot kernel ops may be in flight (> 0).
absl::StatusOr<std::unique_ptr<Backend>> MakeUringBackend(std::uint32_t kernel_op_slots);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_BACKEND_H_
