// -----------------------------------------------------------------------------
// File: io/internal/uring_backend.cc
// -----------------------------------------------------------------------------
//
// The core of the io_uring backend (see uring_backend.h): ring setup,
// submission (flushing early when the SQ is full, and riding out EBUSY and
// EAGAIN), the one io_uring_enter per loop iteration that submits and waits
// on CLOCK_BOOTTIME (for many completions at once while many ring recvs are
// armed), completion dispatch to the concern that owns each
// user_data, the fd slot table, and readiness through one multishot poll per
// registered fd. MakeUringBackend() lives here.

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/env_flag.h"
#include "io/internal/fd_state.h"
#include "io/internal/timer_heap.h"
#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

namespace {

// Newer than liburing 2.3's headers (Linux 6.12).
constexpr unsigned kEnterAbsTimer = 1u << 5;  // IORING_ENTER_ABS_TIMER
constexpr unsigned kRegisterClock = 29;       // IORING_REGISTER_CLOCK
constexpr unsigned kFeatMinTimeout = 1u << 15;  // IORING_FEAT_MIN_TIMEOUT
struct io_uring_clock_register_arg {
  std::uint32_t clockid;
  std::uint32_t reserved[3];
};

// READBUF_ABS_TIMER=0 makes waits use relative timeouts (to compare).
bool EnvDisablesAbsTimer() { return EnvFlagIsOff("READBUF_ABS_TIMER"); }

// READBUF_MIN_WAIT=0 makes every wait end at the first completion (to
// compare).
bool EnvDisablesMinWait() { return EnvFlagIsOff("READBUF_MIN_WAIT"); }

// READBUF_MSG_RING=0 makes cross-core wakes use the eventfd (to compare).
bool EnvDisablesMsgRing() { return EnvFlagIsOff("READBUF_MSG_RING"); }

class NullSink final : public ReadinessSink {
 public:
  void OnReadiness(FdState*, std::uint32_t) override {}
};

constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP;
constexpr unsigned kRingEntries = 1024;

// Batched waits (BatchedWaitNr): once at least kMinRecvsToBatch ring recvs
// are armed, a wait asks for one CQE per armed recv (a message makes two:
// the readiness poll's and the recv's), at most kMaxBatchedCqes, and holds
// the first back at most kBatchMinWaitUsec. With no deadline, a batched wait
// still ends after kBatchIdleBoundNs, so an idle core never depends on the
// min wait alone.
constexpr std::uint64_t kMinRecvsToBatch = 16;
constexpr std::uint64_t kMaxBatchedCqes = 64;
constexpr std::uint32_t kBatchMinWaitUsec = 20;
constexpr std::int64_t kBatchIdleBoundNs = 1'000'000'000;

}  // namespace

UringBackend::~UringBackend() {
  // Quiesce() (on the core thread) normally freed the ring. If recvs were
  // still in flight then, the kernel may write into the buffers until the
  // ring is torn down: keep that memory.
  if (buf_ring_ != nullptr) (void)buf_ring_.release();
  if (large_ring_ != nullptr) (void)large_ring_.release();
  if (ring_ready_) io_uring_queue_exit(&ring_);
  ::close(evfd_);
}

absl::Status UringBackend::Init() {
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
  // Batched waits need the min wait and the absolute timeout: the deadline
  // bounds the wait once the min wait has passed with nothing to return.
  min_wait_ok_ = (p.features & kFeatMinTimeout) != 0 && abs_boottime_ && !EnvDisablesMinWait();
  // Saves an fdget per enter; failure only costs that.
  registered_ring_fd_ = io_uring_register_ring_fd(&ring_) == 1;
  ArmDoorbell();
  tls_thread_ring = this;
  return absl::OkStatus();
}

absl::Status UringBackend::Register(FdState* fs) {
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

void UringBackend::Deregister(FdState* fs) {
  std::uint32_t idx = fs->backend_slot;
  Slot& s = slots_[idx];
  READBUF_DCHECK(s.in_use && s.fs == fs, "deregistering an unknown fd");
  s.fs = nullptr;  // late CQEs are dropped; the slot frees on the last one
  const bool listener = s.is_listener;
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
  if (listener) {
    // The kernel's accept and poll each hold the listening file, so the
    // caller's close() alone would leave the socket listening (completing
    // handshakes it later resets) until the core next enters the kernel.
    // Submitting the cancels and running their completions now drops those
    // references: the close ends the listen at once. Their CQEs wait in the
    // queue for the next Wait. Two system calls per closed listener.
    SubmitAndSettle();
  }
}

void UringBackend::DeregisterAll() {
  for (Slot& s : slots_) {
    if (s.in_use && s.fs != nullptr && !s.is_recv && !s.is_accept) Deregister(s.fs);
  }
}

void UringBackend::Wait(std::optional<std::int64_t> deadline_ns, ReadinessSink* sink) {
  int r;
  const std::int64_t now =
      deadline_ns.has_value() && *deadline_ns > 0 ? BootTimeNowNs() : 0;
  const unsigned wait_nr =
      deadline_ns.has_value() && *deadline_ns <= now ? 0 : BatchedWaitNr();
  if (deadline_ns.has_value() && *deadline_ns <= now) {
    r = io_uring_submit_and_get_events(&ring_);
  } else if (wait_nr > 1) {
    // Many ring readers are parked: let completions gather for up to
    // kBatchMinWaitUsec rather than run a loop iteration per recv. With
    // nothing due, the deadline only bounds the wait; the kernel returns at
    // the first completion once the min wait is over.
    ++batched_waits_;
    const std::int64_t deadline =
        deadline_ns.has_value() ? *deadline_ns : BootTimeNowNs() + kBatchIdleBoundNs;
    r = SubmitAndWaitUntil(deadline, wait_nr, kBatchMinWaitUsec);
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

void UringBackend::Quiesce() {
  // From here on this thread wakes other cores through their eventfds;
  // what the last loop iteration queued (MSG_RING wakes, cancels) goes
  // out now.
  if (tls_thread_ring == this) tls_thread_ring = nullptr;
  // Settled, not only submitted: the polls DeregisterAll cancelled release
  // their files now, so an orphaned socket closed later closes at once.
  SubmitAndSettle();
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

unsigned UringBackend::BatchedWaitNr() const {
  if (!min_wait_ok_ || recvs_in_flight_ < kMinRecvsToBatch) return 1;
  return static_cast<unsigned>(std::min<std::uint64_t>(recvs_in_flight_, kMaxBatchedCqes));
}

int UringBackend::SubmitAndWaitUntil(std::int64_t deadline_ns, unsigned wait_nr,
                                     std::uint32_t min_wait_usec) {
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
  arg.pad = min_wait_usec;  // min_wait_usec in Linux 6.12's layout
  arg.ts = reinterpret_cast<std::uint64_t>(&ts);
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | kEnterAbsTimer;
  int fd = ring_.ring_fd;
  if (registered_ring_fd_) {
    flags |= IORING_ENTER_REGISTERED_RING;
    fd = ring_.enter_ring_fd;
  }
  int r = io_uring_enter2(static_cast<unsigned>(fd), to_submit, wait_nr, flags,
                          reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
  return r;  // liburing returns -errno itself
}

void UringBackend::Submit() {
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

void UringBackend::SubmitAndSettle() {
  Submit();
  // Submits nothing and waits for nothing: an enter with GETEVENTS, which
  // runs the deferred task work first.
  (void)io_uring_get_events(&ring_);
}

std::size_t UringBackend::StashCompletions() {
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

bool UringBackend::PopCompletion(io_uring_cqe* out) {
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

void UringBackend::ArmPoll(std::uint32_t idx) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_poll_multishot(sqe, slots_[idx].fs->fd, kPollMask);
  io_uring_sqe_set_data64(sqe, UserData(idx));
}

void UringBackend::Dispatch(io_uring_cqe* cqe, ReadinessSink* sink) {
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
  if (static_cast<std::uint32_t>(ud) == kFileRemovedLow) {
    OnFileUnregistered(static_cast<std::uint32_t>(ud >> 32), cqe->res);
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

void InjectSubmitFailuresForTesting(int n, int err) {
  UringBackend* ring = UringBackend::tls_thread_ring;
  READBUF_CHECK(ring != nullptr, "InjectSubmitFailuresForTesting off an io_uring core");
  ring->InjectSubmitFailures(n, err);
}

int InjectedSubmitFailuresLeftForTesting() {
  UringBackend* ring = UringBackend::tls_thread_ring;
  READBUF_CHECK(ring != nullptr, "InjectedSubmitFailuresLeftForTesting off an io_uring core");
  return ring->injected_submit_failures_left();
}

absl::StatusOr<std::unique_ptr<Backend>> MakeUringBackend(std::uint32_t kernel_op_slots) {
  if (kernel_op_slots == 0 || kernel_op_slots >= UringBackend::kOpTag) {
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
