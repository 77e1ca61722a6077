// -----------------------------------------------------------------------------
// File: io/internal/driver_engine.cc
// -----------------------------------------------------------------------------
//
// DriverEngine: slots, attach, push (with its checks), cancel, reaping and
// teardown, common to both backends; the backend-specific halves are
// driver_uring.cc and driver_epoll.cc. See io/internal/driver_engine.h for
// the contracts.

#include "io/internal/driver_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <iterator>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/resolve_backend.h"

namespace readbuf {
namespace io_internal {
namespace {

// The operation's name, for error messages.
const char* OpName(const driver::Op& op) {
  static constexpr const char* kNames[] = {"ReadAt", "WriteAt", "Recv",    "Send",        "SendV",
                                           "Accept", "Connect", "Timeout", "PollReadable"};
  static_assert(std::size(kNames) == std::variant_size_v<driver::Op>);
  return kNames[op.index()];
}

}  // namespace

void SlotList::PushBack(DriverSlot* s) {
  s->link_next = nullptr;
  s->link_prev = tail;
  if (tail != nullptr) {
    tail->link_next = s;
  } else {
    head = s;
  }
  tail = s;
}

DriverSlot* SlotList::PopFront() {
  DriverSlot* s = head;
  if (s != nullptr) Remove(s);
  return s;
}

void SlotList::Remove(DriverSlot* s) {
  if (s->link_prev != nullptr) {
    s->link_prev->link_next = s->link_next;
  } else {
    head = s->link_next;
  }
  if (s->link_next != nullptr) {
    s->link_next->link_prev = s->link_prev;
  } else {
    tail = s->link_prev;
  }
  s->link_next = s->link_prev = nullptr;
}

absl::StatusOr<std::unique_ptr<DriverEngine>> DriverEngine::Create(BackendKind requested,
                                                                   std::uint32_t entries) {
  if (entries == 0 || entries > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("DriverOptions::entries=", entries, ": must be in [1, 65536]"));
  }
  if (CurrentCore() != nullptr) {
    return absl::FailedPreconditionError(
        "Driver::Create on a Runtime core's thread: a Driver needs a thread of its own");
  }
  const BackendKind kind = ResolveBackendKind(requested);
  std::string note;
  absl::StatusOr<std::unique_ptr<Backend>> b = absl::UnavailableError("no backend");
  if (kind != BackendKind::kEpoll) {
    b = MakeUringBackend(entries);
    if (!b.ok()) {
      note = absl::StrCat("io_uring unavailable (", b.status().ToString(), "); using epoll");
    }
  }
  if (!b.ok()) b = MakeEpollBackend();
  if (!b.ok()) return b.status();
  // The ring enters only when the driver's owner waits: cross-core wakes
  // this thread sends (to a Runtime) must not ride on it.
  (*b)->DetachFromThread();
  std::unique_ptr<DriverEngine> e(new DriverEngine(*std::move(b), entries));
  e->note_ = std::move(note);
  return e;
}

DriverEngine::DriverEngine(std::unique_ptr<Backend> backend, std::uint32_t entries)
    : backend_(std::move(backend)),
      kernel_ops_(backend_->SupportsKernelOps()),
      owner_(std::this_thread::get_id()),
      full_(absl::ResourceExhaustedError(absl::StrCat(
          "Driver: all ", entries,
          " entries hold operations (DriverOptions::entries); reap completions first"))),
      n_slots_(entries),
      slots_(new DriverSlot[entries]) {
  for (std::size_t i = 0; i < n_slots_; ++i) {
    slots_[i].sink = this;
    slots_[i].timer.slot = &slots_[i];
    free_.PushBack(&slots_[i]);
  }
  n_free_ = n_slots_;
}

DriverEngine::~DriverEngine() {
  // The kernel may still write into caller memory named by in-flight ops:
  // cancel them all and wait for every completion before the ring goes.
  for (std::size_t i = 0; i < n_slots_; ++i) {
    DriverSlot& s = slots_[i];
    if (s.phase != DriverSlot::Phase::kFree && s.phase != DriverSlot::Phase::kReady) {
      CancelMatching(s.user_data);
    }
  }
  const std::int64_t give_up = BootTimeNowNs() + 10'000'000'000;
  while (in_flight_ != 0) {
    READBUF_CHECK(BootTimeNowNs() < give_up,
                  "Driver destroyed with %zu operations the kernel would not cancel",
                  in_flight_);
    if (kernel_ops_) {
      WaitUring(BootTimeNowNs() + 100'000'000);
    } else {
      WaitEpoll(BootTimeNowNs());
    }
  }
  // A connection accepted but never reaped belongs to no one: close it.
  for (DriverSlot* s = ready_.head; s != nullptr; s = s->link_next) {
    if (std::holds_alternative<driver::Accept>(s->desc) && s->done_result >= 0) {
      ::close(s->done_result);
    }
  }
  for (DriverFd* df : fds_) {
    if (df == nullptr) continue;
    if (!kernel_ops_) backend_->Deregister(df);
    delete df;
  }
  backend_->Quiesce();
}

absl::Status DriverEngine::Attach(int fd) {
  CheckThread();
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("Driver::attach(fd=", fd, ")"));
  if (FindFd(fd) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("Driver::attach(fd=", fd, "): already attached"));
  }
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return absl::ErrnoToStatus(errno, absl::StrCat("Driver::attach: fcntl(fd=", fd, ")"));
  auto df = std::make_unique<DriverFd>(fd);
  if (!kernel_ops_) {
    // Readiness ops retry after EAGAIN: the fd must not block.
    if ((fl & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("Driver::attach: fcntl(fd=", fd, ", O_NONBLOCK)"));
    }
    if (absl::Status s = backend_->Register(df.get()); !s.ok()) return s;
  }
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(fd + 1, nullptr);
  fds_[fd] = df.release();
  return absl::OkStatus();
}

absl::Status DriverEngine::Detach(int fd) {
  CheckThread();
  DriverFd* df = FindFd(fd);
  if (df == nullptr) {
    return absl::NotFoundError(absl::StrCat("Driver::detach(fd=", fd, "): not attached"));
  }
  if (df->ops != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("Driver::detach(fd=", fd, "): ", df->ops,
                     " operations on it have not completed (cancel and reap them first)"));
  }
  if (!kernel_ops_) backend_->Deregister(df);
  fds_[fd] = nullptr;
  delete df;
  return absl::OkStatus();
}

void DriverEngine::CheckThread() const {
  READBUF_DCHECK(std::this_thread::get_id() == owner_,
                 "a Driver is used on the thread that created it only");
}

absl::Status DriverEngine::Validate(const driver::Op& op, DriverFd** dfd) const {
  *dfd = nullptr;
  return std::visit(
      [&](const auto& o) -> absl::Status {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, driver::Timeout>) {
          return absl::OkStatus();
        } else {
          if (o.fd < 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("Driver::push: ", OpName(op), " on fd ", o.fd));
          }
          if constexpr (!std::is_same_v<T, driver::ReadAt> && !std::is_same_v<T, driver::WriteAt>) {
            *dfd = FindFd(o.fd);
            if (*dfd == nullptr) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "Driver::push: ", OpName(op), " on fd ", o.fd,
                  ", which is not attached (Driver::attach)"));
            }
          }
          return absl::OkStatus();
        }
      },
      op);
}

absl::Status DriverEngine::Push(const driver::Op& op, std::uint64_t user_data) {
  CheckThread();
  if (free_.empty()) return full_;
  DriverFd* dfd;
  if (absl::Status s = Validate(op, &dfd); !s.ok()) return s;
  PushValid(op, user_data, dfd);
  return absl::OkStatus();
}

absl::Status DriverEngine::PushBatch(std::span<const driver::Entry> entries) {
  CheckThread();
  if (entries.size() > n_free_) return full_;
  DriverFd* dfd;
  for (const driver::Entry& e : entries) {
    if (absl::Status s = Validate(e.op, &dfd); !s.ok()) return s;
  }
  for (const driver::Entry& e : entries) {
    (void)Validate(e.op, &dfd);  // checked above; finds the fd again
    PushValid(e.op, e.user_data, dfd);
  }
  return absl::OkStatus();
}

void DriverEngine::PushValid(const driver::Op& op, std::uint64_t user_data, DriverFd* dfd) {
  DriverSlot* s = free_.PopFront();
  READBUF_DCHECK(s != nullptr, "DriverEngine::PushValid without a free slot");
  --n_free_;
  s->desc = op;
  s->user_data = user_data;
  s->cancel_sent = false;
  s->connecting = false;
  s->offered = 0;
  s->read_at = nullptr;
  s->dfd = dfd;
  if (dfd != nullptr) ++dfd->ops;
  ++in_flight_;
  Start(s);
}

void DriverEngine::Start(DriverSlot* s) {
  if (kernel_ops_) {
    StartKernelOp(s);
  } else {
    s->phase = DriverSlot::Phase::kPending;
    pending_.PushBack(s);
  }
}

void DriverEngine::Finish(DriverSlot* s, std::int32_t result) {
  const driver::ReadBufRef* buf = nullptr;
  if (const auto* r = std::get_if<driver::ReadAt>(&s->desc)) buf = &r->buf;
  if (const auto* r = std::get_if<driver::Recv>(&s->desc)) buf = &r->buf;
  if (buf != nullptr && s->read_at != nullptr) {
    if (result > 0) {
      READBUF_DCHECK(buf->write_ptr() == s->read_at,
                     "the ReadBuf of an in-flight read (user_data %llu) moved or changed "
                     "before its completion",
                     static_cast<unsigned long long>(s->user_data));
      buf->commit(static_cast<std::size_t>(result), s->offered);
    } else {
      buf->release_idle();
    }
  }
  if (s->dfd != nullptr) --s->dfd->ops;
  s->done_result = result;
  s->phase = DriverSlot::Phase::kReady;
  --in_flight_;
  ready_.PushBack(s);
}

std::size_t DriverEngine::Reap(std::span<driver::Completion> out) {
  std::size_t n = 0;
  while (n < out.size() && !ready_.empty()) {
    DriverSlot* s = ready_.PopFront();
    out[n++] = driver::Completion{s->user_data, s->done_result};
    s->phase = DriverSlot::Phase::kFree;
    s->desc = driver::Timeout{};  // drop references to caller memory
    s->dfd = nullptr;
    free_.PushBack(s);
    ++n_free_;
  }
  return n;
}

std::size_t DriverEngine::SubmitAndWait(std::optional<std::int64_t> deadline_ns,
                                        std::span<driver::Completion> out) {
  CheckThread();
  if (kernel_ops_) {
    WaitUring(deadline_ns);
  } else {
    WaitEpoll(deadline_ns);
  }
  return Reap(out);
}

absl::Status DriverEngine::Cancel(std::uint64_t user_data) {
  CheckThread();
  if (CancelMatching(user_data) != 0) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("Driver::cancel(user_data=", user_data,
                                          "): no such operation in flight (it completed, or "
                                          "was never pushed)"));
}

std::size_t DriverEngine::CancelMatching(std::uint64_t user_data) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < n_slots_; ++i) {
    DriverSlot* s = &slots_[i];
    if (s->user_data != user_data) continue;
    switch (s->phase) {
      case DriverSlot::Phase::kFree:
      case DriverSlot::Phase::kReady:
        break;
      case DriverSlot::Phase::kPending:
        pending_.Remove(s);
        Finish(s, -ECANCELED);
        ++n;
        break;
      case DriverSlot::Phase::kParked:
        Unpark(s);
        --waiting_;
        Finish(s, -ECANCELED);
        ++n;
        break;
      case DriverSlot::Phase::kTimer:
        timers_.Remove(&s->timer);
        --waiting_;
        Finish(s, -ECANCELED);
        ++n;
        break;
      case DriverSlot::Phase::kInFlight:
        // Counted even when asked before: it is still in flight.
        ++n;
        if (!s->cancel_sent) {
          s->cancel_sent = true;
          backend_->CancelKernelOp(s);
        }
        break;
    }
  }
  return n;
}

}  // namespace io_internal
}  // namespace readbuf
