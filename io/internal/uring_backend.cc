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

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/adaptive_size.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
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

namespace {

constexpr std::size_t kMaxQueuedAccepts = 256;

std::mutex default_options_mu;
RecvRingOptions& DefaultOptionsLocked() {
  static RecvRingOptions* options = new RecvRingOptions();
  return *options;
}

bool EnvIsOff(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  const std::string s(v);
  return s == "0" || s == "off" || s == "false" || s == "no";
}

bool EnvDisablesRing() { return EnvIsOff("READBUF_RECV_RING"); }

// Newer than liburing 2.3's headers (Linux 6.12).
constexpr unsigned kEnterAbsTimer = 1u << 5;  // IORING_ENTER_ABS_TIMER
constexpr unsigned kRegisterClock = 29;       // IORING_REGISTER_CLOCK
struct io_uring_clock_register_arg {
  std::uint32_t clockid;
  std::uint32_t reserved[3];
};

// READBUF_ABS_TIMER=0 makes waits use relative timeouts (to compare).
bool EnvDisablesAbsTimer() { return EnvIsOff("READBUF_ABS_TIMER"); }

// READBUF_MSG_RING=0 makes cross-core wakes use the eventfd (to compare).
bool EnvDisablesMsgRing() { return EnvIsOff("READBUF_MSG_RING"); }

// Multishot recv needs Linux 6.0.
bool KernelHasMultishotRecv() {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0;
  int minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 0);
}

class NullSink final : public ReadinessSink {
 public:
  void OnReadiness(FdState*, std::uint32_t) override {}
};

constexpr std::uint64_t kDoorbellData = ~std::uint64_t{0};
constexpr std::uint64_t kIgnoreData = ~std::uint64_t{0} - 1;
constexpr std::uint64_t kMsgRingWakeData = ~std::uint64_t{0} - 2;  // on the target
// Low word of a failed MSG_RING's user_data (the high word is the target's
// eventfd). No slot index reaches it (fd slots < 2^22, ops are kOpTag | < 2^16).
constexpr std::uint32_t kMsgRingFailedLow = 0xFFFFFFF0u;
constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP;
constexpr unsigned kRingEntries = 1024;
constexpr std::uint32_t kOpTag = 1u << 31;  // index half of a kernel op's user_data

class UringBackend;
// The ring of the core running on this thread (null elsewhere).
thread_local UringBackend* tls_thread_ring = nullptr;

class UringBackend final : public Backend, public RecvRing {
 public:
  UringBackend(int evfd, std::size_t n_slots, std::uint32_t n_op_slots)
      : evfd_(evfd), slots_(n_slots), ops_(n_op_slots), op_gens_(n_op_slots) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].next_free = static_cast<std::uint32_t>(i + 1);
    }
    free_head_ = 0;
    free_ops_.reserve(n_op_slots);
    for (std::uint32_t i = n_op_slots; i > 0; --i) free_ops_.push_back(i - 1);
  }

  ~UringBackend() override {
    // Quiesce() (on the core thread) normally freed the ring. If recvs were
    // still in flight then, the kernel may write into the buffers until the
    // ring is torn down: keep that memory.
    if (buf_ring_ != nullptr) (void)buf_ring_.release();
    if (large_ring_ != nullptr) (void)large_ring_.release();
    if (ring_ready_) io_uring_queue_exit(&ring_);
    ::close(evfd_);
  }

  absl::Status Init() {
    io_uring_params p;
    const unsigned base = IORING_SETUP_SINGLE_ISSUER |
                          IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    int r = -EINVAL;
    for (unsigned extra : {IORING_SETUP_COOP_TASKRUN, 0u}) {
      std::memset(&p, 0, sizeof(p));
      p.flags = base | extra | IORING_SETUP_CQSIZE;
      p.cq_entries = kRingEntries * 4;
      r = io_uring_queue_init_params(kRingEntries, &ring_, &p);
      if (r != -EINVAL) break;
    }
    if (r < 0) {
      return absl::ErrnoToStatus(-r, "io_uring_queue_init_params(SINGLE_ISSUER|DEFER_TASKRUN)");
    }
    ring_ready_ = true;
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
      return absl::UnimplementedError(
          "io_uring lacks IORING_FEAT_EXT_ARG or IORING_FEAT_NODROP");
    }
    msg_ring_ok_ = (p.features & IORING_FEAT_CQE_SKIP) != 0 && !EnvDisablesMsgRing();
    // Timeouts on CLOCK_BOOTTIME, absolute (kernel >= 6.12); without it the
    // wait uses a relative timeout.
    io_uring_clock_register_arg clock{};
    clock.clockid = CLOCK_BOOTTIME;
    abs_boottime_ = ::syscall(__NR_io_uring_register, ring_.ring_fd, kRegisterClock, &clock, 0) == 0 &&
                    !EnvDisablesAbsTimer();
    // Saves an fdget per enter; failure only costs that.
    registered_ring_fd_ = io_uring_register_ring_fd(&ring_) == 1;
    ArmDoorbell();
    tls_thread_ring = this;
    return absl::OkStatus();
  }

  const char* name() const override { return "io_uring"; }

  absl::Status Register(FdState* fs) override {
    if (free_head_ >= slots_.size()) {
      // The table is sized above twice RLIMIT_NOFILE, so this means the
      // limit was raised after the runtime started.
      return absl::ResourceExhaustedError(
          absl::StrCat("io_uring op slots exhausted (", slots_.size(), ")"));
    }
    const std::uint32_t idx = TakeSlot();
    slots_[idx].fs = fs;
    fs->backend_slot = idx;
    ArmPoll(idx);
    return absl::OkStatus();
  }

  void Deregister(FdState* fs) override {
    std::uint32_t idx = fs->backend_slot;
    Slot& s = slots_[idx];
    READBUF_DCHECK(s.in_use && s.fs == fs, "deregistering an unknown fd");
    s.fs = nullptr;  // late CQEs are dropped; the slot frees on the last one
    if (RecvConn* c = std::exchange(s.recv, nullptr)) DetachConn(c);
    if (AcceptState* a = std::exchange(s.accept, nullptr)) DetachAccept(a);
    // ASYNC_CANCEL rather than POLL_REMOVE: POLL_REMOVE needs to take
    // ownership of the poll and fails with -EALREADY while a wake-up's task
    // work is pending (likely under DEFER_TASKRUN), leaving the poll armed and
    // the file open. A cancel only sets the poll's cancel flag, which that
    // pending task work honours.
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, UserData(idx), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
  }

  void Wait(std::optional<std::int64_t> deadline_ns,
            ReadinessSink* sink) override {
    int r;
    const std::int64_t now =
        deadline_ns.has_value() && *deadline_ns > 0 ? BootTimeNowNs() : 0;
    if (deadline_ns.has_value() && *deadline_ns <= now) {
      r = io_uring_submit_and_get_events(&ring_);
    } else if (deadline_ns.has_value() && abs_boottime_) {
      r = SubmitAndWaitUntil(*deadline_ns);
    } else {
      __kernel_timespec ts{};
      __kernel_timespec* tsp = nullptr;
      if (deadline_ns.has_value()) {
        const std::int64_t rel = *deadline_ns - now;
        ts.tv_sec = rel / 1000000000;
        ts.tv_nsec = rel % 1000000000;
        tsp = &ts;
      }
      io_uring_cqe* cqe = nullptr;
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
    }
    // EBUSY / EAGAIN: nothing was submitted this time (completions must be
    // reaped first, or the kernel is short of memory); the queued SQEs go
    // out with the next enter, after the completions below are reaped.
    READBUF_CHECK(r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN ||
                      r == -EBUSY,
                  "io_uring enter failed: %d", r);
    io_uring_cqe cqe;
    while (PopCompletion(&cqe)) Dispatch(&cqe, sink);
    if (buf_ring_ != nullptr) buf_ring_->Publish();
    if (large_ring_ != nullptr) large_ring_->Publish();
  }

  void Notify() override {
    UringBackend* from = tls_thread_ring;
    if (from != nullptr && from != this && from->msg_ring_ok_) {
      from->SendWake(ring_.ring_fd, evfd_);
      return;
    }
    eventfd_writes_.fetch_add(1, std::memory_order_relaxed);
    WriteEventFd(evfd_);
  }

  bool waits_on_boottime() const override { return abs_boottime_; }

  void InjectSubmitFailures(int n, int err) {
    injected_submit_failures_ = n;
    injected_submit_errno_ = err;
  }
  int injected_submit_failures_left() const { return injected_submit_failures_; }

  DoorbellStats doorbell_stats() const override {
    DoorbellStats st;
    st.eventfd_writes = eventfd_writes_.load(std::memory_order_relaxed);
    st.msg_ring_sends = msg_ring_sends_;
    st.msg_ring_received = msg_ring_received_;
    st.msg_ring_failures = msg_ring_failures_;
    return st;
  }

  RecvRing* recv_ring() override { return this; }

  // --- Multishot accept ---

  AcceptTake TakeAccepted(FdState* listener, int* fd, int* error) override {
    if (accept_unsupported_) return AcceptTake::kUnsupported;
    Slot& ls = slots_[listener->backend_slot];
    READBUF_DCHECK(ls.in_use && ls.fs == listener, "fd %d is not registered with this core",
                   listener->fd);
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

  std::uint64_t kernel_accepts() const override { return accepted_; }

  void SetAcceptWaiter(FdState* listener, RunNode* node) override {
    AcceptState* a = slots_[listener->backend_slot].accept;
    READBUF_CHECK(a != nullptr && a->waiter == nullptr,
                  "two tasks accepting on listener fd %d", listener->fd);
    a->waiter = node;
  }

  void AbandonAcceptWait(FdState* listener, RunNode* node) override {
    AcceptState* a = slots_[listener->backend_slot].accept;
    if (a != nullptr && a->waiter == node) a->waiter = nullptr;
  }

  // --- Kernel ops ---

  bool SupportsKernelOps() const override { return true; }

  void Submit(KernelOp* op) override {
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

  void Withdraw(KernelOp* op) override {
    READBUF_DCHECK(op->state == KernelOp::State::kQueued, "withdrawing an op that is not queued");
    UnlinkQueued(op);
    op->state = KernelOp::State::kIdle;
  }

  void CancelKernelOps(Scope* scope) override {
    for (std::uint32_t i = 0; i < ops_.size(); ++i) {
      KernelOp* op = ops_[i];
      if (op == nullptr || !ScopeWithin(op->run.scope, scope)) continue;
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel64(sqe, OpUserData(i), 0);
      io_uring_sqe_set_data64(sqe, kIgnoreData);
      ++op_stats_.cancels;
    }
  }

  void GetKernelOpStats(KernelOpStats* out) const override {
    *out = op_stats_;
    out->slots = static_cast<std::uint32_t>(ops_.size());
  }

  void Quiesce() override {
    // From here on this thread wakes other cores through their eventfds;
    // what the last loop iteration queued (MSG_RING wakes, cancels) goes
    // out now.
    if (tls_thread_ring == this) tls_thread_ring = nullptr;
    Submit();
    const std::int64_t deadline = BootTimeNowNs() + 5'000'000'000;
    NullSink sink;
    while ((recvs_in_flight_ != 0 || accepts_in_flight_ != 0) && BootTimeNowNs() < deadline) {
      Wait(BootTimeNowNs() + 50'000'000, &sink);
    }
    if (recvs_in_flight_ != 0) {
      std::fprintf(stderr,
                   "readbuf: %llu multishot recvs did not end at shutdown; "
                   "keeping the buffer ring's memory\n",
                   static_cast<unsigned long long>(recvs_in_flight_));
      return;
    }
    buf_ring_.reset();
    large_ring_.reset();
  }

  // --- RecvRing ---

  RecvConn* Attach(FdState* fs) override {
    if (!EnsureBufRing()) return nullptr;
    Slot& s = slots_[fs->backend_slot];
    READBUF_DCHECK(s.in_use && s.fs == fs, "fd %d is not registered with this core", fs->fd);
    if (s.recv == nullptr) {
      s.recv = new RecvConn(fs);
      s.recv->size = AdaptiveReadSize(AdaptiveLimits());
      ++connections_;
      // recv(2) needs a stream socket; pipes and the like keep the
      // readiness path (once per connection: one getsockopt).
      int type = 0;
      socklen_t len = sizeof(type);
      if (::getsockopt(fs->fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        s.recv->end = RecvConn::End::kUnsupported;
      }
    }
    return s.recv;
  }

  RecvTake Take(RecvConn* c, std::size_t max, PoolBytes* out, absl::Status* error) override {
    if (c->head < c->queue.size()) {
      PoolBytes& front = c->queue[c->head].bytes;
      if (max != 0 && front.size() > max) {
        // A smaller read than the completion: copy out the prefix (the one
        // copy of this path) and keep the rest queued.
        absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(max);
        if (!block.ok()) {
          *error = block.status();
          return RecvTake::kError;
        }
        std::memcpy(block->data(), front.data(), max);
        front.RemovePrefix(max);
        queued_bytes_ -= max;
        c->queued_bytes -= max;
        *out = PoolBytes(*std::move(block), max);
        return RecvTake::kData;
      }
      queued_bytes_ -= front.size();
      c->queued_bytes -= front.size();
      queued_pool_bytes_ -= c->queue[c->head].block_capacity;
      --queued_buffers_;
      *out = std::move(front);
      if (++c->head == c->queue.size()) {
        c->queue.clear();
        c->head = 0;
      }
      return RecvTake::kData;
    }
    if (c->armed) return RecvTake::kWait;
    switch (c->end) {
      case RecvConn::End::kEof:
        return RecvTake::kEof;
      case RecvConn::End::kError:
        *error = std::exchange(c->error, absl::OkStatus());
        c->end = RecvConn::End::kNone;
        return RecvTake::kError;
      case RecvConn::End::kNoBufs:
        ++fallback_reads_;
        return RecvTake::kFallback;
      case RecvConn::End::kUnsupported:
        return RecvTake::kFallback;
      case RecvConn::End::kNone:
        break;
    }
    if (ring_unsupported_) {
      c->end = RecvConn::End::kUnsupported;
      return RecvTake::kFallback;
    }
    if (free_head_ >= slots_.size()) {
      // No op slot for the recv: read this once through readiness.
      c->end = RecvConn::End::kNoBufs;
      ++fallback_reads_;
      return RecvTake::kFallback;
    }
    ArmRecv(c, max);
    return RecvTake::kWait;
  }

  void SetWaiter(RecvConn* c, RunNode* node) override {
    READBUF_CHECK(c->waiter == nullptr, "two tasks reading fd %d through the ring",
                  c->fs != nullptr ? c->fs->fd : -1);
    c->waiter = node;
  }

  void AbandonWait(RecvConn* c, RunNode* node) override {
    if (c->waiter == node) c->waiter = nullptr;
    if (c->armed && !c->cancel_sent) CancelRecv(c);
  }

  void EndFallback(RecvConn* c) override {
    if (c->end == RecvConn::End::kNoBufs) c->end = RecvConn::End::kNone;
  }

  absl::Status Configure(const RecvRingOptions& options) override {
    if (absl::Status s = ValidateRecvRingOptions(options); !s.ok()) return s;
    if (ring_tried_) {
      return absl::FailedPreconditionError(
          "ConfigureRecvRing: this core's ring was already set up (configure before the "
          "first ring read)");
    }
    options_ = options;
    configured_ = true;
    return absl::OkStatus();
  }

  RecvRingStats Stats() override {
    RecvRingStats st;
    st.active = buf_ring_ != nullptr;
    if (buf_ring_ != nullptr) {
      st.buffers = buf_ring_->entries();
      st.buffer_size = buf_ring_->buffer_size();
      st.buffers_in_ring = buf_ring_->buffers_in_ring();
      st.bytes_registered = buf_ring_->bytes_registered();
      st.refill_failures = buf_ring_->refill_failures();
    }
    st.recvs_in_flight = recvs_in_flight_;
    st.connections = connections_;
    st.queued_buffers = queued_buffers_;
    st.queued_bytes = queued_bytes_;
    st.queued_pool_bytes = queued_pool_bytes_;
    if (large_ring_ != nullptr) {
      st.large_buffers = large_ring_->entries();
      st.large_buffer_size = large_ring_->buffer_size();
      st.buffers_in_ring += large_ring_->buffers_in_ring();
      st.bytes_registered += large_ring_->bytes_registered();
      st.refill_failures += large_ring_->refill_failures();
    }
    st.group_switches = group_switches_;
    st.completions = completions_;
    st.bytes_received = bytes_received_;
    st.arms = arms_;
    st.enobufs = enobufs_;
    st.fallback_reads = fallback_reads_;
    st.queue_cap_pauses = queue_cap_pauses_;
    return st;
  }

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
  };

  bool EnsureBufRing() {
    if (buf_ring_ != nullptr) return true;
    if (ring_tried_) return false;
    ring_tried_ = true;
    if (!configured_) options_ = DefaultRecvRingOptions();
    if (!options_.enabled || EnvDisablesRing() || !KernelHasMultishotRecv()) return false;
    absl::StatusOr<std::unique_ptr<BufRing>> br =
        BufRing::Create(&ring_, /*group=*/0, options_.entries, options_.buffer_size,
                        &BufferPool::ForThisThread());
    if (!br.ok()) return false;
    buf_ring_ = *std::move(br);
    return true;
  }

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
    s.in_use = true;
    ++s.gen;
    return idx;
  }

  void ArmRecv(RecvConn* c, std::size_t max) {
    const std::uint32_t idx = TakeSlot();
    slots_[idx].recv = c;
    slots_[idx].is_recv = true;
    c->op = idx;
    c->armed = true;
    c->cancel_sent = false;
    ++recvs_in_flight_;
    ++arms_;
    BufRing* ring = c->large && large_ring_ != nullptr ? large_ring_.get() : buf_ring_.get();
    c->armed_large = ring != buf_ring_.get();
    const std::size_t len = max != 0 && max < ring->buffer_size() ? max : 0;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_recv_multishot(sqe, c->fs->fd, nullptr, len, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = ring->group();
    io_uring_sqe_set_data64(sqe, UserData(idx));
  }

  void ArmAccept(AcceptState* a) {
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

  void CancelAccept(AcceptState* a) {
    a->cancel_sent = true;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, UserData(a->op), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
  }

  static void CloseQueued(AcceptState* a) {
    for (std::size_t i = a->head; i < a->fds.size(); ++i) ::close(a->fds[i]);
    a->fds.clear();
    a->head = 0;
  }

  // The listener is going away: free `a` now, or at its accept's terminal
  // CQE. A task waiting on it is woken; it finds the listener closed.
  void DetachAccept(AcceptState* a) {
    if (RunNode* w = std::exchange(a->waiter, nullptr)) CurrentCore()->Schedule(w);
    a->fs = nullptr;
    CloseQueued(a);
    if (a->armed) {
      if (!a->cancel_sent) CancelAccept(a);
      return;
    }
    delete a;
  }

  void DispatchAccept(std::uint32_t idx, io_uring_cqe* cqe) {
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

  AdaptiveReadSize::Limits AdaptiveLimits() const {
    const auto small = static_cast<std::uint32_t>(options_.buffer_size);
    const auto large = static_cast<std::uint32_t>(
        options_.large_buffer_size > options_.buffer_size ? options_.large_buffer_size
                                                          : options_.buffer_size);
    return AdaptiveReadSize::Limits{.min = small, .initial = small, .max = large};
  }

  bool EnsureLargeRing() {
    if (large_ring_ != nullptr) return true;
    if (large_tried_ || options_.large_buffer_size <= options_.buffer_size) return false;
    large_tried_ = true;
    absl::StatusOr<std::unique_ptr<BufRing>> br =
        BufRing::Create(&ring_, /*group=*/1, options_.large_entries, options_.large_buffer_size,
                        &BufferPool::ForThisThread());
    if (!br.ok()) return false;  // the small group serves everyone
    large_ring_ = *std::move(br);
    return true;
  }

  // Feeds one completion of `got` bytes (out of a `buffer_size` buffer) to
  // the connection's size and moves it between the groups when it asks.
  void Adapt(RecvConn* c, std::size_t got, std::size_t buffer_size, bool more) {
    c->size.record(got, buffer_size);
    const bool want_large = c->size.next() > options_.buffer_size;
    if (want_large == c->large) return;
    if (want_large && !EnsureLargeRing()) return;
    c->large = want_large;
    ++group_switches_;
    // The armed recv keeps its group: end it; the next Take re-arms.
    if (more && !c->cancel_sent) CancelRecv(c);
  }

  void CancelRecv(RecvConn* c) {
    c->cancel_sent = true;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, UserData(c->op), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
  }

  void DropQueue(RecvConn* c) {
    for (std::size_t i = c->head; i < c->queue.size(); ++i) {
      queued_bytes_ -= c->queue[i].bytes.size();
      queued_pool_bytes_ -= c->queue[i].block_capacity;
      --queued_buffers_;
    }
    c->queue.clear();
    c->head = 0;
    c->queued_bytes = 0;
  }

  // The fd is going away: free `c` now, or at its recv's terminal CQE. A
  // task waiting on it is woken; it finds the fd closed and never touches
  // `c` again.
  void DetachConn(RecvConn* c) {
    if (RunNode* w = std::exchange(c->waiter, nullptr)) CurrentCore()->Schedule(w);
    c->fs = nullptr;
    DropQueue(c);
    if (c->armed) {
      if (!c->cancel_sent) CancelRecv(c);
      return;
    }
    delete c;
    --connections_;
  }

  void DispatchRecv(std::uint32_t idx, io_uring_cqe* cqe) {
    RecvConn* c = slots_[idx].recv;
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    const int res = cqe->res;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      const auto bid = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      BufRing* ring = c->armed_large ? large_ring_.get() : buf_ring_.get();
      PoolBytes bytes = ring->Take(bid, res > 0 ? static_cast<std::size_t>(res) : 0);
      if (res > 0) {
        ++completions_;
        bytes_received_ += static_cast<std::uint64_t>(res);
        if (c->fs != nullptr) {
          queued_bytes_ += bytes.size();
          c->queued_bytes += bytes.size();
          queued_pool_bytes_ += ring->block_capacity();
          ++queued_buffers_;
          c->queue.push_back({std::move(bytes), ring->block_capacity()});
          Adapt(c, static_cast<std::size_t>(res), ring->buffer_size(), more);
          if (c->queued_bytes >= options_.max_queued_bytes_per_connection && more &&
              !c->cancel_sent) {
            // A slow reader: leave further data in the socket buffer.
            CancelRecv(c);
            ++queue_cap_pauses_;
          }
        }
      }
    }
    if (!more) {
      FreeSlot(idx);
      c->armed = false;
      --recvs_in_flight_;
      if (c->fs == nullptr) {
        delete c;
        --connections_;
        return;
      }
      if (res == -ENOBUFS) {
        c->end = RecvConn::End::kNoBufs;
        ++enobufs_;
      } else if (res == 0) {
        c->end = RecvConn::End::kEof;
      } else if (res == -ECANCELED) {
        c->end = RecvConn::End::kNone;
      } else if (res == -EINVAL) {
        // The kernel refuses multishot recv with buffer select.
        ring_unsupported_ = true;
        c->end = RecvConn::End::kUnsupported;
      } else if (res < 0) {
        c->end = RecvConn::End::kError;
        c->error = absl::ErrnoToStatus(-res, absl::StrCat("recv(fd=", c->fs->fd, ")"));
      }
    }
    if (RunNode* w = std::exchange(c->waiter, nullptr)) CurrentCore()->Schedule(w);
  }

  void StartOp(KernelOp* op) {
    const std::uint32_t idx = free_ops_.back();
    free_ops_.pop_back();
    ops_[idx] = op;
    ++op_gens_[idx];
    // The kernel may write into op->buf until the completion: the scope
    // holding it must not be destroyed before it (see kernel_op.h).
    const bool pinned = op->run.scope->TryAcquireWake();
    READBUF_CHECK(pinned, "kernel op started in a scope that is being destroyed");
    op->state = KernelOp::State::kStarted;
    ++op_stats_.started;
    ++op_stats_.in_flight;
    io_uring_sqe* sqe = GetSqe();
    switch (op->kind) {
      case KernelOp::Kind::kRead:
        io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->offset);
        break;
    }
    io_uring_sqe_set_data64(sqe, OpUserData(idx));
  }

  void UnlinkQueued(KernelOp* op) {
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

  void DispatchOp(std::uint32_t idx, std::uint32_t gen, std::int32_t res) {
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
    CurrentCore()->DeliverPinnedWake(&op->run);
  }

  // Submits what is queued and waits for one CQE or the CLOCK_BOOTTIME
  // `deadline_ns`, in one io_uring_enter (IORING_ENTER_ABS_TIMER against the
  // clock registered in Init). liburing 2.3 has no call for an absolute
  // timeout, so this publishes the SQ tail itself, as its submit does.
  int SubmitAndWaitUntil(std::int64_t deadline_ns) {
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
      sq.sqe_head = tail;
      __atomic_store_n(sq.ktail, tail, __ATOMIC_RELEASE);
    }
    const unsigned to_submit = tail - __atomic_load_n(sq.khead, __ATOMIC_ACQUIRE);
    __kernel_timespec ts{};
    ts.tv_sec = deadline_ns / 1000000000;
    ts.tv_nsec = deadline_ns % 1000000000;
    io_uring_getevents_arg arg{};
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | kEnterAbsTimer;
    int fd = ring_.ring_fd;
    if (registered_ring_fd_) {
      flags |= IORING_ENTER_REGISTERED_RING;
      fd = ring_.enter_ring_fd;
    }
    int r = io_uring_enter2(static_cast<unsigned>(fd), to_submit, 1, flags,
                            reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
    return r;  // liburing returns -errno itself
  }

  static void WriteEventFd(int fd) {
    std::uint64_t one = 1;
    while (::write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

  // On this (the sender's) thread: queues a wake for another core's ring.
  void SendWake(int target_ring_fd, int target_evfd) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_msg_ring(sqe, target_ring_fd, 0, kMsgRingWakeData, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(
        sqe, (static_cast<std::uint64_t>(static_cast<std::uint32_t>(target_evfd)) << 32) |
                 kMsgRingFailedLow);
    ++msg_ring_sends_;
  }

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
  void Submit() {
    for (int attempt = 1;; ++attempt) {
      int r;
      if (injected_submit_failures_ > 0) {
        --injected_submit_failures_;
        r = -injected_submit_errno_;
      } else {
        r = io_uring_submit(&ring_);
      }
      if (r >= 0) return;
      READBUF_CHECK(r == -EBUSY || r == -EAGAIN || r == -EINTR, "io_uring_submit failed: %d", r);
      ++submit_retries_;
      if (r == -EINTR) continue;
      READBUF_CHECK(attempt <= 10000, "io_uring_submit keeps failing: %d", r);
      if (StashCompletions() == 0) {
        __kernel_timespec ts{.tv_sec = 0, .tv_nsec = 1'000'000};
        io_uring_cqe* cqe = nullptr;
        (void)io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
        StashCompletions();
      }
    }
  }

  // Moves every completion out of the CQ into stashed_. Returns how many.
  std::size_t StashCompletions() {
    std::size_t n = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      stashed_.push_back(*cqe);
      ++n;
    }
    io_uring_cq_advance(&ring_, static_cast<unsigned>(n));
    return n;
  }

  // The next completion to dispatch, oldest first: stashed ones, then the
  // CQ's. Each is consumed before it is dispatched, so a dispatch that
  // stashes (Submit) never sees it twice.
  bool PopCompletion(io_uring_cqe* out) {
    if (stash_head_ < stashed_.size()) {
      *out = stashed_[stash_head_++];
      if (stash_head_ == stashed_.size()) {
        stashed_.clear();
        stash_head_ = 0;
      }
      return true;
    }
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      *out = *cqe;
      io_uring_cq_advance(&ring_, 1);
      return true;
    }
    return false;
  }

  void ArmPoll(std::uint32_t idx) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_poll_multishot(sqe, slots_[idx].fs->fd, kPollMask);
    io_uring_sqe_set_data64(sqe, UserData(idx));
  }

  void ArmDoorbell() {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_poll_multishot(sqe, evfd_, POLLIN);
    io_uring_sqe_set_data64(sqe, kDoorbellData);
  }

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

  void Dispatch(io_uring_cqe* cqe, ReadinessSink* sink) {
    const std::uint64_t ud = cqe->user_data;
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (ud == kIgnoreData) return;
    if (ud == kMsgRingWakeData) {
      ++msg_ring_received_;  // the wake itself was the point
      return;
    }
    if (static_cast<std::uint32_t>(ud) == kMsgRingFailedLow) {
      // A MSG_RING we sent failed: wake the target the other way, and stop
      // using MSG_RING from this core.
      ++msg_ring_failures_;
      msg_ring_ok_ = false;
      WriteEventFd(static_cast<int>(ud >> 32));
      return;
    }
    if (ud == kDoorbellData) {
      std::uint64_t v;
      while (::read(evfd_, &v, sizeof(v)) < 0 && errno == EINTR) {
      }
      if (!more) ArmDoorbell();
      return;
    }
    std::uint32_t idx = static_cast<std::uint32_t>(ud);
    std::uint32_t gen = static_cast<std::uint32_t>(ud >> 32);
    if (idx & kOpTag) {
      DispatchOp(idx & ~kOpTag, gen, cqe->res);
      return;
    }
    if (idx >= slots_.size()) return;
    Slot& s = slots_[idx];
    if (!s.in_use || s.gen != gen) return;
    if (s.is_recv) {
      DispatchRecv(idx, cqe);
      return;
    }
    if (s.is_accept) {
      DispatchAccept(idx, cqe);
      return;
    }
    if (s.fs == nullptr) {
      if (!more) FreeSlot(idx);
      return;
    }
    std::uint32_t bits;
    if (cqe->res < 0) {
      // The poll itself failed (e.g. -ENOMEM): wake both directions; the
      // operations retry and see the real state.
      bits = kReadable | kWritable;
    } else {
      // Per direction, as on epoll: RDHUP closes the read side only, HUP
      // both, ERR the write side (and wakes reads, which see the error).
      const unsigned m = static_cast<unsigned>(cqe->res);
      bits = 0;
      if (m & (POLLIN | POLLPRI)) bits |= kReadable;
      if (m & POLLOUT) bits |= kWritable;
      if (m & POLLRDHUP) bits |= kReadClosed;
      if (m & POLLHUP) bits |= kReadClosed | kWriteClosed;
      if (m & POLLERR) bits |= kReadable | kWriteClosed;
    }
    FdState* fs = s.fs;
    if (!more) ArmPoll(idx);  // multishot ended (overflow, error): re-arm
    sink->OnReadiness(fs, bits);
  }

  int evfd_;
  std::vector<io_uring_cqe> stashed_;  // reaped by Submit, not yet dispatched
  std::size_t stash_head_ = 0;
  std::uint64_t submit_retries_ = 0;
  int injected_submit_failures_ = 0;  // InjectSubmitFailuresForTesting
  int injected_submit_errno_ = 0;
  bool abs_boottime_ = false;       // Wait uses an absolute BOOTTIME timeout
  bool registered_ring_fd_ = false;  // enter through ring_.enter_ring_fd
  bool msg_ring_ok_ = false;  // send cross-core wakes as MSG_RING
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
};

}  // namespace

void InjectSubmitFailuresForTesting(int n, int err) {
  READBUF_CHECK(tls_thread_ring != nullptr, "InjectSubmitFailuresForTesting off an io_uring core");
  tls_thread_ring->InjectSubmitFailures(n, err);
}

int InjectedSubmitFailuresLeftForTesting() {
  READBUF_CHECK(tls_thread_ring != nullptr, "InjectedSubmitFailuresLeftForTesting off an io_uring core");
  return tls_thread_ring->injected_submit_failures_left();
}

void SetDefaultRecvRingOptions(const RecvRingOptions& options) {
  std::lock_guard<std::mutex> l(default_options_mu);
  DefaultOptionsLocked() = options;
}

RecvRingOptions DefaultRecvRingOptions() {
  std::lock_guard<std::mutex> l(default_options_mu);
  return DefaultOptionsLocked();
}

absl::Status ValidateRecvRingOptions(const RecvRingOptions& options) {
  if (options.large_buffer_size != 0) {
    const std::uint32_t le = options.large_entries;
    if (options.large_buffer_size <= options.buffer_size ||
        options.large_buffer_size > BufferPool::kMaxPooledBlockSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RecvRingOptions.large_buffer_size=", options.large_buffer_size,
          ": must be 0 (off) or in (buffer_size, 1 MiB]"));
    }
    if (le == 0 || le > 32768 || (le & (le - 1)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RecvRingOptions.large_entries=", le, ": must be a power of two in [1, 32768]"));
    }
  }
  if (options.max_queued_bytes_per_connection < options.buffer_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RecvRingOptions.max_queued_bytes_per_connection=", options.max_queued_bytes_per_connection,
        ": must be at least buffer_size (", options.buffer_size, ")"));
  }
  const std::uint32_t e = options.entries;
  if (e == 0 || e > 32768 || (e & (e - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RecvRingOptions.entries=", e, ": must be a power of two in [1, 32768]"));
  }
  if (options.buffer_size < 64 || options.buffer_size > BufferPool::kMaxPooledBlockSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RecvRingOptions.buffer_size=", options.buffer_size, ": must be in [64, 1 MiB]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Backend>> MakeUringBackend(std::uint32_t kernel_op_slots) {
  if (kernel_op_slots == 0 || kernel_op_slots >= kOpTag) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel_op_slots=", kernel_op_slots, ": must be in [1, 2^31)"));
  }
  int evfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd < 0) return absl::ErrnoToStatus(errno, "eventfd");
  rlimit rl{};
  std::size_t n_slots = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    n_slots = static_cast<std::size_t>(rl.rlim_cur) * 2 + 64;
  }
  if (n_slots > (std::size_t{1} << 22)) n_slots = std::size_t{1} << 22;
  auto b = std::make_unique<UringBackend>(evfd, n_slots, kernel_op_slots);
  absl::Status s = b->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace io_internal
}  // namespace readbuf
