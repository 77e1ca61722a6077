// -----------------------------------------------------------------------------
// File: io/internal/driver_engine.h
// -----------------------------------------------------------------------------
//
// DriverEngine: the state behind a Driver (io/driver.h), on top of the same
// Backend objects a runtime core runs (io/internal/backend.h). On io_uring an
// operation becomes a one-shot KernelOp submitted with this engine as its
// KernelOpSink; on epoll the engine runs the syscall itself, parks it on its
// fd's readiness (registered with the epoll Backend) when it would block, and
// keeps Timeouts in a TimerHeap. REQUIRES: used on one thread, which runs no
// reactor core (debug builds CHECK the thread). Lifetimes: a slot's memory
// (iovecs, msghdr, timespec, a Connect's address) lives in the engine; the
// caller's buffers live until their completion is reaped.

#ifndef READBUF_IO_INTERNAL_DRIVER_ENGINE_H_
#define READBUF_IO_INTERNAL_DRIVER_ENGINE_H_

#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/driver_ops.h"
#include "io/internal/backend.h"
#include "io/internal/fd_state.h"
#include "io/internal/kernel_op.h"
#include "io/internal/timer_heap.h"
#include "io/runtime.h"

namespace readbuf {
namespace io_internal {

struct DriverSlot;

// A Timeout's entry in the epoll engine's heap.
struct DriverTimer : TimerNode {
  DriverSlot* slot = nullptr;
};

// One operation slot. The KernelOp base is what the io_uring backend sees.
struct DriverSlot : KernelOp {
  enum class Phase : std::uint8_t {
    kFree,
    kPending,   // epoll: pushed, not tried yet
    kParked,    // epoll: would block; waits for its fd's readiness
    kTimer,     // epoll: a Timeout in the heap
    kInFlight,  // io_uring: handed to the backend
    kReady,     // completed; waits to be reaped
  };

  driver::Op desc = driver::Timeout{};  // what was pushed (a Connect's address lives here)
  std::uint64_t user_data = 0;
  Phase phase = Phase::kFree;
  bool cancel_sent = false;
  bool connecting = false;      // epoll Connect: connect() said EINPROGRESS
  std::int32_t done_result = 0;
  std::size_t offered = 0;              // bytes a read offered
  const void* read_at = nullptr;        // the ReadBuf's write pointer at start
  iovec iov[driver::ReadBufRef::kMaxSegments];
  msghdr msg{};
  __kernel_timespec ts{};
  DriverTimer timer;
  struct DriverFd* dfd = nullptr;  // the attached fd a socket op runs on
  bool parked_write = false;  // parked in dfd->writers (else readers)
  DriverSlot* link_next = nullptr;  // free, pending, ready or parked list
  DriverSlot* link_prev = nullptr;
};

// A FIFO of slots (intrusive, through link_next / link_prev).
struct SlotList {
  DriverSlot* head = nullptr;
  DriverSlot* tail = nullptr;
  bool empty() const { return head == nullptr; }
  void PushBack(DriverSlot* s);
  DriverSlot* PopFront();
  void Remove(DriverSlot* s);
};

// An attached fd (epoll: registered with the backend, and FdState's
// readable / writable flags track readiness as a core's do).
struct DriverFd : FdState {
  explicit DriverFd(int f) : FdState(f, FdShape::kUnknown) {}
  std::uint32_t ops = 0;  // pushed operations on it not yet completed
  SlotList readers;       // epoll, parked: Recv, Accept, PollReadable
  SlotList writers;       // epoll, parked: Send, SendV, Connect
};

class DriverEngine final : public KernelOpSink, private ReadinessSink {
 public:
  // `requested` resolved as the runtime resolves it; io_uring falls back to
  // epoll (note() says why). Errors: InvalidArgument (entries not in
  // [1, 65536]); FailedPrecondition on a Runtime core's thread.
  static absl::StatusOr<std::unique_ptr<DriverEngine>> Create(BackendKind requested,
                                                              std::uint32_t entries);
  ~DriverEngine();
  DriverEngine(const DriverEngine&) = delete;
  DriverEngine& operator=(const DriverEngine&) = delete;

  const char* backend_name() const { return backend_->name(); }
  const std::string& note() const { return note_; }
  std::size_t capacity() const { return n_slots_; }
  std::size_t free_slots() const { return n_free_; }

  absl::Status Attach(int fd);
  absl::Status Detach(int fd);
  absl::Status Push(const driver::Op& op, std::uint64_t user_data);
  absl::Status PushBatch(std::span<const driver::Entry> entries);
  std::size_t SubmitAndWait(std::optional<std::int64_t> deadline_ns,
                            std::span<driver::Completion> out);
  absl::Status Cancel(std::uint64_t user_data);

  // KernelOpSink (io_uring).
  void OnKernelOpDone(KernelOp* op) override;

 private:
  DriverEngine(std::unique_ptr<Backend> backend, std::uint32_t entries);

  DriverFd* FindFd(int fd) const {
    return fd >= 0 && static_cast<std::size_t>(fd) < fds_.size() ? fds_[fd] : nullptr;
  }
  // OK, or why `op` cannot be pushed (bad or unattached fd); `*dfd` is the
  // attached fd a socket op runs on.
  absl::Status Validate(const driver::Op& op, DriverFd** dfd) const;
  // Takes a free slot for a validated op. REQUIRES: a free slot.
  void PushValid(const driver::Op& op, std::uint64_t user_data, DriverFd* dfd);
  // Asks every in-flight op tagged `user_data` to cancel; how many matched.
  std::size_t CancelMatching(std::uint64_t user_data);
  void CheckThread() const;
  void Start(DriverSlot* s);
  void Finish(DriverSlot* s, std::int32_t result);
  std::size_t Reap(std::span<driver::Completion> out);

  // io_uring (driver_uring.cc).
  void StartKernelOp(DriverSlot* s);
  void WaitUring(std::optional<std::int64_t> deadline_ns);

  // epoll (driver_epoll.cc).
  void StartPending();
  // Runs the operation once: true when it finished (Finish was called).
  bool TryOnce(DriverSlot* s);
  void Park(DriverSlot* s);
  void Unpark(DriverSlot* s);
  // Parks `s` unless it may run now (its direction is ready, nothing is
  // parked ahead of it); then runs it. epoll only.
  void TryOrPark(DriverSlot* s);
  // Retries `df`'s parked ops of one direction after an edge.
  void RetryParked(DriverFd* df, bool write);
  void FireTimers(std::int64_t now);
  void WaitEpoll(std::optional<std::int64_t> deadline_ns);
  void OnReadiness(FdState* fs, std::uint32_t bits) override;

  std::unique_ptr<Backend> backend_;
  bool kernel_ops_;  // io_uring
  std::thread::id owner_;
  // push() on a full queue returns copies of this status: copying one
  // allocates nothing.
  absl::Status full_;
  std::string note_;
  std::size_t n_slots_;
  std::unique_ptr<DriverSlot[]> slots_;
  std::size_t n_free_ = 0;
  SlotList free_;
  SlotList pending_;  // epoll
  SlotList ready_;
  std::size_t in_flight_ = 0;  // pushed, not yet completed
  std::size_t waiting_ = 0;    // epoll: parked or timer
  std::vector<DriverFd*> fds_;  // by fd number
  TimerHeap timers_;            // epoll
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_DRIVER_ENGINE_H_
