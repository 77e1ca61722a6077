// The epoll backend: one epoll fd per core, every fd registered once with
// EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, and an eventfd as the doorbell.

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"

namespace readbuf {
namespace io_internal {
namespace {

// Per direction: RDHUP closes the read side only (a half-closed peer can
// still refuse our writes), HUP both, ERR the write side (the pending error
// also ends a read, so reads are woken too).
std::uint32_t ReadinessBits(std::uint32_t e) {
  std::uint32_t bits = 0;
  if (e & (EPOLLIN | EPOLLPRI)) bits |= kReadable;
  if (e & EPOLLOUT) bits |= kWritable;
  if (e & EPOLLRDHUP) bits |= kReadClosed;
  if (e & EPOLLHUP) bits |= kReadClosed | kWriteClosed;
  if (e & EPOLLERR) bits |= kReadable | kWriteClosed;
  return bits;
}

class EpollBackend final : public Backend {
 public:
  EpollBackend(int epfd, int evfd) : epfd_(epfd), evfd_(evfd) {}
  ~EpollBackend() override {
    ::close(evfd_);
    ::close(epfd_);
  }

  const char* name() const override { return "epoll"; }

  absl::Status Register(FdState* fs) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = fs;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fs->fd, &ev) != 0) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("epoll_ctl(ADD, fd=", fs->fd, ")"));
    }
    return absl::OkStatus();
  }

  void Deregister(FdState* fs) override {
    // Failure means the fd is already gone from the set; nothing to undo.
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fs->fd, nullptr);
  }

  void Wait(std::optional<std::int64_t> deadline_ns,
            ReadinessSink* sink) override {
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    timespec ts{};
    timespec* tsp = nullptr;
    if (deadline_ns.has_value()) {
      const std::int64_t t = *deadline_ns <= 0 ? 0 : std::max<std::int64_t>(0, *deadline_ns - BootTimeNowNs());
      ts.tv_sec = t / 1000000000;
      ts.tv_nsec = t % 1000000000;
      tsp = &ts;
    }
    int n = have_pwait2_ ? ::epoll_pwait2(epfd_, events, kMaxEvents, tsp, nullptr) : -1;
    if (n < 0 && (!have_pwait2_ || errno == ENOSYS || errno == EPERM)) {
      // Linux < 5.11, valgrind, or a seccomp filter that lacks epoll_pwait2
      // (ENOSYS, or EPERM from older container profiles): millisecond
      // timeouts, rounded up so a timer never fires early.
      have_pwait2_ = false;
      int ms = -1;
      if (tsp != nullptr) {
        const std::int64_t ns = std::int64_t{tsp->tv_sec} * 1'000'000'000 + tsp->tv_nsec;
        ms = static_cast<int>(std::min<std::int64_t>((ns + 999'999) / 1'000'000, INT32_MAX));
      }
      n = ::epoll_pwait(epfd_, events, kMaxEvents, ms, nullptr);
    }
    if (n < 0) {
      READBUF_CHECK(errno == EINTR, "epoll_pwait failed: errno %d", errno);
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        std::uint64_t v;
        while (::read(evfd_, &v, sizeof(v)) < 0 && errno == EINTR) {
        }
        continue;
      }
      sink->OnReadiness(static_cast<FdState*>(events[i].data.ptr),
                        ReadinessBits(events[i].events));
    }
  }

  void Notify() override {
    std::uint64_t one = 1;
    while (::write(evfd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

 private:
  int epfd_;
  int evfd_;
  bool have_pwait2_ = true;  // cleared at the first ENOSYS
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeEpollBackend() {
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
  int evfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd < 0) {
    int err = errno;
    ::close(epfd);
    return absl::ErrnoToStatus(err, "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) != 0) {
    int err = errno;
    ::close(evfd);
    ::close(epfd);
    return absl::ErrnoToStatus(err, "epoll_ctl(ADD, eventfd)");
  }
  return std::unique_ptr<Backend>(new EpollBackend(epfd, evfd));
}

}  // namespace io_internal
}  // namespace readbuf
