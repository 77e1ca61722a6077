// -----------------------------------------------------------------------------
// File: io/internal/uring_backend.h
// -----------------------------------------------------------------------------
//
// UringBackend: the io_uring Backend (io/internal/backend.h), one ring per
// core. This header declares the whole class; its implementation is split by
// concern, one file each, so each can be read and changed alone:
//
//   uring_backend.cc     the ring (setup, submission, the one-enter wait,
//                        completion dispatch), the fd slot table, and
//                        readiness through one multishot poll per fd
//   uring_doorbell.cc    cross-core wake-ups: MSG_RING, else the eventfd
//   uring_accept.cc      multishot accept per listener
//   uring_kernel_ops.cc  one-shot kernel ops (io/internal/kernel_op.h)
//   uring_recv_ring.cc   the provided-buffer receive ring (RecvRing)
//   uring_fixed_files.cc the registered-file table of ring connections
//
// Thread safety: a UringBackend is created and used on its core's thread
// only (SINGLE_ISSUER), except Notify(). Internal: use MakeUringBackend().
//
// The io_uring backend: one ring per core, created on the core's thread with
// SINGLE_ISSUER | DEFER_TASKRUN (+ SUBMIT_ALL, COOP_TASKRUN where the kernel
// takes them), no SQPOLL, no idle spin. Each registered fd gets one multishot
// POLL_ADD (POLLIN | POLLOUT | POLLRDHUP) for its whole life, which gives the
// same edge-style readiness as the epoll backend. Each loop iteration submits
// and waits in one io_uring_enter.
//
// Ops live in a preallocated, fixed-size slot table; user_data carries the
// slot index and a generation. A slot stays allocated until its terminal CQE
// (no IORING_CQE_F_MORE), so a CQE can never name a freed FdState: on
// Deregister the slot is detached from its fd and an ASYNC_CANCEL is queued;
// late CQEs for a detached slot are dropped.
//
// Multishot accept: a listener's first TakeAccepted arms one multishot
// IORING_OP_ACCEPT (an fd slot, like a recv); accepted fds queue on the
// listener (at most kMaxQueuedAccepts: past that the accept is cancelled and
// the kernel's backlog holds the rest until the queue drains). An accept that
// ends with an error (EMFILE, ...) reports it once; the next Take re-arms.
// Closing the listener cancels the accept and closes every queued fd, also
// the ones that complete later.
//
// One-shot kernel ops (io/internal/kernel_op.h; File::read_at uses
// IORING_OP_READ) have their own fixed table of `kernel_op_slots` slots,
// separate from the fd slots; an op that finds none queues intrusively and
// starts when a completion frees one. Their user_data sets kOpTag in the
// index half.
//
// The doorbell: a core woken from another core's thread gets an
// IORING_OP_MSG_RING queued on the *sender's* ring (CQE_SKIP_SUCCESS), which
// goes out with the sender's next io_uring_enter, so a cross-core wake costs
// no syscall of its own. The price: the wake waits for the end of the
// sender's loop iteration. Threads without a ring (block_on, spawn from main)
// and failed sends (the failure CQE names the target's eventfd) write the
// target's eventfd, which a multishot poll watches.
//
// Receiving through a provided-buffer ring (io/internal/recv_ring.h): the
// backend is the core's RecvRing. Two buffer groups: group 0 (small
// buffers, registered lazily on the first Attach) and group 1 (large
// buffers, registered when the first connection needs them). Each
// connection's AdaptiveReadSize (buf/adaptive_size.h) follows its
// completions: one that fills a small buffer moves the connection to the
// large group, repeated small ones move it back; the move cancels the
// multishot recv and the next read re-arms it on the other group. The
// small group is buffer group 0 (kernel >= 5.19; multishot recv needs 6.0:
// checked with uname, and a recv that fails with EINVAL turns the ring off
// for the core). Each attached connection owns at most one multishot recv
// op slot; the slot, like a poll's, lives until its terminal CQE, and a
// RecvConn detached by Deregister is freed only then, dropping the bytes it
// still queued. Quiesce(), run by the core after its last task, cancels
// nothing new (every fd is deregistered by then) but waits for the terminal
// CQE of every recv before the ring's memory goes back to the pool.
//
// Registered files: a socket that attaches to the receive ring is also
// entered in the ring's sparse file table, and its recvs and kernel sends
// name it by index (IOSQE_FIXED_FILE), which spares the kernel a file lookup
// per op. Deregister queues the entry's removal (the entry holds the socket
// open); the index is reused once that removal completes.


#ifndef READBUF_IO_INTERNAL_URING_BACKEND_H_
#define READBUF_IO_INTERNAL_URING_BACKEND_H_

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/adaptive_size.h"
#include "buf/pool_bytes.h"
#include "io/internal/backend.h"
#include "io/internal/buf_ring.h"
#include "io/internal/core.h"
#include "io/internal/kernel_op.h"
#include "io/internal/recv_ring.h"

namespace readbuf {
namespace io_internal {

// Per-connection receive state (see recv_ring.h).
struct RecvConn {
  enum class End : std::uint8_t {
    kNone,         // the next Take may arm a recv
    kNoBufs,       // ended by ENOBUFS: one readiness read, then re-arm
    kEof,          // sticky
    kError,        // `error` is reported by the next Take
    kUnsupported,  // multishot recv refused: readiness reads from now on
  };
  explicit RecvConn(FdState* f) : fs(f) {}
  FdState* fs;  // null once the fd is deregistered
  RunNode* waiter = nullptr;
  std::uint32_t op = 0;  // recv op slot while `armed`
  bool armed = false;
  bool cancel_sent = false;
  End end = End::kNone;
  absl::Status error;
  struct Queued {
    PoolBytes bytes;
    std::size_t block_capacity;  // pool bytes the block holds
  };
  std::vector<Queued> queue;  // [head, size) not yet read
  std::size_t head = 0;
  std::size_t queued_bytes = 0;  // bytes in [head, size)
  AdaptiveReadSize size;         // picks the buffer group
  bool large = false;            // the next recv uses the large group
  bool armed_large = false;      // the armed recv uses the large group
  // The socket's index in the ring's registered-file table, or -1.
  std::int32_t file_index = -1;
};

// Per-listener multishot accept state.
struct AcceptState {
  explicit AcceptState(FdState* f) : fs(f) {}
  FdState* fs;  // null once the listener is deregistered
  RunNode* waiter = nullptr;
  std::uint32_t op = 0;  // accept op slot while `armed`
  bool armed = false;
  bool cancel_sent = false;
  int error = 0;              // errno of an ended accept, reported once
  std::vector<int> fds;       // [head, size) accepted, not yet taken
  std::size_t head = 0;
  std::size_t queued() const { return fds.size() - head; }
};

class UringBackend final : public Backend, public RecvRing {
 public:
  // user_data values that name no slot: the doorbell's poll, CQEs to drop
  // (cancels), a MSG_RING wake arriving on the target, and the low word of a
  // failed MSG_RING (the high word is the target's eventfd). No slot index
  // reaches them (fd slots < 2^22, ops are kOpTag | < 2^16).
  static constexpr std::uint64_t kDoorbellData = ~std::uint64_t{0};
  static constexpr std::uint64_t kIgnoreData = ~std::uint64_t{0} - 1;
  static constexpr std::uint64_t kMsgRingWakeData = ~std::uint64_t{0} - 2;
  static constexpr std::uint32_t kMsgRingFailedLow = 0xFFFFFFF0u;
  // The low word of a file table removal's user_data (the high word is the
  // table index).
  static constexpr std::uint32_t kFileRemovedLow = 0xFFFFFFF1u;
  // Index half of a kernel op's user_data.
  static constexpr std::uint32_t kOpTag = 1u << 31;

  // The ring of the core running on this thread (null elsewhere).
  static inline thread_local UringBackend* tls_thread_ring = nullptr;

  UringBackend(int evfd, std::size_t n_slots, std::uint32_t n_op_slots)
      : evfd_(evfd), slots_(n_slots), ops_(n_op_slots), op_gens_(n_op_slots) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].next_free = static_cast<std::uint32_t>(i + 1);
    }
    free_head_ = 0;
    free_ops_.reserve(n_op_slots);
    for (std::uint32_t i = n_op_slots; i > 0; --i) free_ops_.push_back(i - 1);
  }

  ~UringBackend() override;

  absl::Status Init();

  const char* name() const override { return "io_uring"; }

  absl::Status Register(FdState* fs) override;

  void Deregister(FdState* fs) override;
  void DeregisterAll() override;

  void Wait(std::optional<std::int64_t> deadline_ns, ReadinessSink* sink) override;

  void Notify() override;

  bool waits_on_boottime() const override { return abs_boottime_; }

  void InjectSubmitFailures(int n, int err) {
    injected_submit_failures_ = n;
    injected_submit_errno_ = err;
  }
  int injected_submit_failures_left() const { return injected_submit_failures_; }

  DoorbellStats doorbell_stats() const override;

  RecvRing* recv_ring() override { return this; }

  // --- Multishot accept ---

  AcceptTake TakeAccepted(FdState* listener, int* fd, int* error) override;

  std::uint64_t kernel_accepts() const override { return accepted_; }

  void SetAcceptWaiter(FdState* listener, RunNode* node) override;

  void AbandonAcceptWait(FdState* listener, RunNode* node) override;

  // --- Kernel ops ---

  bool SupportsKernelOps() const override { return true; }

  void Submit(KernelOp* op) override;

  void Withdraw(KernelOp* op) override;

  void CancelKernelOps(Scope* scope) override;

  void CancelKernelOp(KernelOp* op) override;
  void EndQueuedOps(int fd) override;

  void DetachFromThread() override;

  void GetKernelOpStats(KernelOpStats* out) const override;

  void Quiesce() override;

  // --- Registered files ---

  std::int32_t RegisteredFileIndex(const FdState* fs) const override;

  // --- RecvRing ---

  RecvConn* Attach(FdState* fs) override;

  RecvTake Take(RecvConn* c, std::size_t max, PoolBytes* out, absl::Status* error) override;

  void SetWaiter(RecvConn* c, RunNode* node) override;

  void AbandonWait(RecvConn* c, RunNode* node) override;

  void EndFallback(RecvConn* c) override;

  absl::Status Configure(const RecvRingOptions& options) override;

  RecvRingStats Stats() override;

 private:
  struct Slot {
    FdState* fs = nullptr;
    RecvConn* recv = nullptr;  // poll slot: the fd's ring state; recv slot: its owner
    AcceptState* accept = nullptr;  // poll slot: listener state; accept slot: its owner
    std::uint32_t gen = 0;
    std::uint32_t next_free = 0;
    bool in_use = false;
    bool is_recv = false;
    bool is_accept = false;
    bool is_listener = false;  // poll slot: a listener (TakeAccepted was asked)
  };

  bool EnsureBufRing();

  // Pops a free fd slot, cleared, in use, with a new generation.
  // REQUIRES: free_head_ < slots_.size().
  std::uint32_t TakeSlot() {
    const std::uint32_t idx = free_head_;
    Slot& s = slots_[idx];
    free_head_ = s.next_free;
    s.fs = nullptr;
    s.recv = nullptr;
    s.accept = nullptr;
    s.is_recv = false;
    s.is_accept = false;
    s.is_listener = false;
    s.in_use = true;
    ++s.gen;
    return idx;
  }

  void ArmRecv(RecvConn* c, std::size_t max);

  void ArmAccept(AcceptState* a);

  void CancelAccept(AcceptState* a);

  static void CloseQueued(AcceptState* a);

  // The listener is going away: free `a` now, or at its accept's terminal
  // CQE. A task waiting on it is woken; it finds the listener closed.
  void DetachAccept(AcceptState* a);

  void DispatchAccept(std::uint32_t idx, io_uring_cqe* cqe);

  AdaptiveReadSize::Limits AdaptiveLimits() const;

  bool EnsureLargeRing();

  // Feeds one completion of `got` bytes (out of a `buffer_size` buffer) to
  // the connection's size and moves it between the groups when it asks.
  void Adapt(RecvConn* c, std::size_t got, std::size_t buffer_size, bool more);

  void CancelRecv(RecvConn* c);

  void DropQueue(RecvConn* c);

  // The fd is going away: free `c` now, or at its recv's terminal CQE. A
  // task waiting on it is woken; it finds the fd closed and never touches
  // `c` again.
  void DetachConn(RecvConn* c);

  void DispatchRecv(std::uint32_t idx, io_uring_cqe* cqe);

  // Registers the sparse file table on first use (false: none on this core).
  bool EnsureFileTable();
  // Enters `fd` in the file table: its index, or -1 (no table, table full,
  // update refused), when the caller keeps using the fd.
  std::int32_t RegisterFile(int fd);
  // Queues the removal of entry `index`; the index is reused once
  // OnFileUnregistered sees it done.
  void UnregisterFile(std::int32_t index);
  void OnFileUnregistered(std::uint32_t index, std::int32_t res);

  void StartOp(KernelOp* op);

  void UnlinkQueued(KernelOp* op);

  void DispatchOp(std::uint32_t idx, std::uint32_t gen, std::int32_t res);

  // Submits what is queued and waits for `wait_nr` CQEs or the CLOCK_BOOTTIME
  // `deadline_ns`, in one io_uring_enter (IORING_ENTER_ABS_TIMER against the
  // clock registered in Init). With `min_wait_usec` > 0 (REQUIRES:
  // min_wait_ok_) the kernel waits for `wait_nr` CQEs only that long, then
  // returns as soon as there is one. liburing 2.3 has no call for either,
  // so this publishes the SQ tail itself, as its submit does.
  int SubmitAndWaitUntil(std::int64_t deadline_ns, unsigned wait_nr = 1,
                         std::uint32_t min_wait_usec = 0);

  // How many CQEs the next blocking wait asks for: 1, or, where the kernel
  // has a min wait and many ring recvs are armed, one per armed recv (at
  // most kMaxBatchedCqes; see uring_backend.cc).
  unsigned BatchedWaitNr() const;

  static void WriteEventFd(int fd);

  // On this (the sender's) thread: queues a wake for another core's ring.
  void SendWake(int target_ring_fd, int target_evfd);

  std::uint64_t OpUserData(std::uint32_t idx) const {
    return (static_cast<std::uint64_t>(op_gens_[idx]) << 32) | kOpTag | idx;
  }

  std::uint64_t UserData(std::uint32_t idx) const {
    return (static_cast<std::uint64_t>(slots_[idx].gen) << 32) | idx;
  }

  io_uring_sqe* GetSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // SQ full: flush early (the only extra enter of an iteration).
      Submit();
      sqe = io_uring_get_sqe(&ring_);
    }
    READBUF_CHECK(sqe != nullptr, "io_uring SQ full after submit");
    return sqe;
  }

  // Submits what is queued without waiting. When the kernel refuses (EBUSY:
  // completions must be reaped first; EAGAIN: short of memory), the
  // completions waiting in the CQ are moved aside, in order, for the next
  // Wait to dispatch (dispatching here could re-enter GetSqe), and the
  // submit is tried again; if the CQ is empty, the thread waits up to 1 ms
  // for a completion first, so the retry is never a spin.
  void Submit();
  // Submit(), then runs the ring's deferred task work (DEFER_TASKRUN), so
  // the cancelled requests among what went out complete and drop their
  // references to files now, not at the next Wait. Their CQEs stay queued.
  void SubmitAndSettle();

  // Moves every completion out of the CQ into stashed_. Returns how many.
  std::size_t StashCompletions();

  // The next completion to dispatch, oldest first: stashed ones, then the
  // CQ's. Each is consumed before it is dispatched, so a dispatch that
  // stashes (Submit) never sees it twice.
  bool PopCompletion(io_uring_cqe* out);

  void ArmPoll(std::uint32_t idx);

  void ArmDoorbell();

  void FreeSlot(std::uint32_t idx) {
    Slot& s = slots_[idx];
    s.in_use = false;
    s.is_recv = false;
    s.is_accept = false;
    s.recv = nullptr;
    s.accept = nullptr;
    s.next_free = free_head_;
    free_head_ = idx;
  }

  void Dispatch(io_uring_cqe* cqe, ReadinessSink* sink);

  int evfd_;
  std::vector<io_uring_cqe> stashed_;  // reaped by Submit, not yet dispatched
  std::size_t stash_head_ = 0;
  std::uint64_t submit_retries_ = 0;
  int injected_submit_failures_ = 0;  // InjectSubmitFailuresForTesting
  int injected_submit_errno_ = 0;
  bool abs_boottime_ = false;       // Wait uses an absolute BOOTTIME timeout
  bool registered_ring_fd_ = false;  // enter through ring_.enter_ring_fd
  bool msg_ring_ok_ = false;  // send cross-core wakes as MSG_RING
  bool min_wait_ok_ = false;  // IORING_FEAT_MIN_TIMEOUT: waits may batch
  std::uint64_t batched_waits_ = 0;  // waits that asked for more than one CQE
  std::atomic<std::uint64_t> eventfd_writes_{0};
  std::uint64_t msg_ring_sends_ = 0;
  std::uint64_t msg_ring_received_ = 0;
  std::uint64_t msg_ring_failures_ = 0;
  io_uring ring_{};
  bool ring_ready_ = false;
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = 0;

  // Kernel ops: slot table (null = free), generations, free list, queue.
  std::vector<KernelOp*> ops_;
  std::vector<std::uint32_t> op_gens_;
  std::vector<std::uint32_t> free_ops_;
  KernelOp* op_queue_head_ = nullptr;
  KernelOp* op_queue_tail_ = nullptr;
  KernelOpStats op_stats_;

  // Multishot accept.
  bool accept_unsupported_ = false;
  std::uint64_t accept_arms_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t accepts_in_flight_ = 0;

  // Provided-buffer ring.
  RecvRingOptions options_;
  bool configured_ = false;
  bool ring_tried_ = false;
  bool ring_unsupported_ = false;
  std::unique_ptr<BufRing> buf_ring_;
  std::unique_ptr<BufRing> large_ring_;  // group 1, lazily
  bool large_tried_ = false;
  std::uint64_t group_switches_ = 0;
  std::size_t queued_pool_bytes_ = 0;
  std::uint64_t recvs_in_flight_ = 0;
  std::uint64_t connections_ = 0;
  std::uint64_t queued_buffers_ = 0;
  std::uint64_t queued_bytes_ = 0;
  std::uint64_t completions_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t arms_ = 0;
  std::uint64_t enobufs_ = 0;
  std::uint64_t fallback_reads_ = 0;
  std::uint64_t queue_cap_pauses_ = 0;

  // Registered-file table.
  bool file_table_tried_ = false;
  bool file_table_ok_ = false;
  std::uint32_t file_table_size_ = 0;
  std::uint32_t file_table_next_ = 0;  // entries [next, size) never used yet
  std::vector<std::uint32_t> free_files_;  // removed entries, reusable
  std::uint64_t files_registered_ = 0;     // entries holding a socket now
  std::uint64_t file_registration_failures_ = 0;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_URING_BACKEND_H_
