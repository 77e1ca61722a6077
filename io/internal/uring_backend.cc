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
// The doorbell is an eventfd watched by a multishot poll. (IORING_OP_MSG_RING
// from the sender's ring can replace it for core-to-core wakeups; plain
// threads have no ring, so the eventfd stays as the general path.)

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"

namespace readbuf {
namespace io_internal {
namespace {

constexpr std::uint64_t kDoorbellData = ~std::uint64_t{0};
constexpr std::uint64_t kIgnoreData = ~std::uint64_t{0} - 1;
constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP;
constexpr unsigned kRingEntries = 1024;

class UringBackend final : public Backend {
 public:
  UringBackend(int evfd, std::size_t n_slots) : evfd_(evfd), slots_(n_slots) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].next_free = static_cast<std::uint32_t>(i + 1);
    }
    free_head_ = 0;
  }

  ~UringBackend() override {
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
    // Saves an fdget per enter; failure only costs that.
    io_uring_register_ring_fd(&ring_);
    ArmDoorbell();
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
    std::uint32_t idx = free_head_;
    Slot& s = slots_[idx];
    free_head_ = s.next_free;
    s.fs = fs;
    s.in_use = true;
    ++s.gen;
    fs->backend_slot = idx;
    ArmPoll(idx);
    return absl::OkStatus();
  }

  void Deregister(FdState* fs) override {
    std::uint32_t idx = fs->backend_slot;
    Slot& s = slots_[idx];
    READBUF_DCHECK(s.in_use && s.fs == fs, "deregistering an unknown fd");
    s.fs = nullptr;  // late CQEs are dropped; the slot frees on the last one
    // ASYNC_CANCEL rather than POLL_REMOVE: POLL_REMOVE needs to take
    // ownership of the poll and fails with -EALREADY while a wake-up's task
    // work is pending (likely under DEFER_TASKRUN), leaving the poll armed and
    // the file open. A cancel only sets the poll's cancel flag, which that
    // pending task work honours.
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, UserData(idx), 0);
    io_uring_sqe_set_data64(sqe, kIgnoreData);
  }

  void Wait(std::optional<std::int64_t> timeout_ns,
            ReadinessSink* sink) override {
    int r;
    if (timeout_ns.has_value() && *timeout_ns <= 0) {
      r = io_uring_submit_and_get_events(&ring_);
    } else {
      __kernel_timespec ts{};
      __kernel_timespec* tsp = nullptr;
      if (timeout_ns.has_value()) {
        ts.tv_sec = *timeout_ns / 1000000000;
        ts.tv_nsec = *timeout_ns % 1000000000;
        tsp = &ts;
      }
      io_uring_cqe* cqe = nullptr;
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
    }
    READBUF_CHECK(r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN ||
                      r == -EBUSY,
                  "io_uring enter failed: %d", r);
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      Dispatch(cqe, sink);
    }
    io_uring_cq_advance(&ring_, seen);
  }

  void Notify() override {
    std::uint64_t one = 1;
    while (::write(evfd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

 private:
  struct Slot {
    FdState* fs = nullptr;
    std::uint32_t gen = 0;
    std::uint32_t next_free = 0;
    bool in_use = false;
  };

  std::uint64_t UserData(std::uint32_t idx) const {
    return (static_cast<std::uint64_t>(slots_[idx].gen) << 32) | idx;
  }

  io_uring_sqe* GetSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // SQ full: flush early (the only extra enter of an iteration).
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    READBUF_CHECK(sqe != nullptr, "io_uring SQ full after submit");
    return sqe;
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
    s.next_free = free_head_;
    free_head_ = idx;
  }

  void Dispatch(io_uring_cqe* cqe, ReadinessSink* sink) {
    const std::uint64_t ud = cqe->user_data;
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (ud == kIgnoreData) return;
    if (ud == kDoorbellData) {
      std::uint64_t v;
      while (::read(evfd_, &v, sizeof(v)) < 0 && errno == EINTR) {
      }
      if (!more) ArmDoorbell();
      return;
    }
    std::uint32_t idx = static_cast<std::uint32_t>(ud);
    std::uint32_t gen = static_cast<std::uint32_t>(ud >> 32);
    if (idx >= slots_.size()) return;
    Slot& s = slots_[idx];
    if (!s.in_use || s.gen != gen) return;
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
      unsigned m = static_cast<unsigned>(cqe->res);
      bits = 0;
      if (m & (POLLIN | POLLPRI)) bits |= kReadable;
      if (m & POLLOUT) bits |= kWritable;
      if (m & (POLLRDHUP | POLLHUP | POLLERR)) {
        bits |= kHangup | kReadable | kWritable;
      }
    }
    FdState* fs = s.fs;
    if (!more) ArmPoll(idx);  // multishot ended (overflow, error): re-arm
    sink->OnReadiness(fs, bits);
  }

  int evfd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeUringBackend() {
  int evfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd < 0) return absl::ErrnoToStatus(errno, "eventfd");
  rlimit rl{};
  std::size_t n_slots = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    n_slots = static_cast<std::size_t>(rl.rlim_cur) * 2 + 64;
  }
  if (n_slots > (std::size_t{1} << 22)) n_slots = std::size_t{1} << 22;
  auto b = std::make_unique<UringBackend>(evfd, n_slots);
  absl::Status s = b->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace io_internal
}  // namespace readbuf
