// -----------------------------------------------------------------------------
// File: io/internal/driver_epoll.cc
// -----------------------------------------------------------------------------
//
// DriverEngine on epoll: the engine runs each operation's syscall itself.
// ReadAt / WriteAt run when submit_and_wait() starts them (pread / pwrite).
// A socket operation runs only while its direction is ready, as FdState
// tracks it for a core (optimistic for a new fd, cleared by EAGAIN or by a
// short read that drains a stream, set by a readiness edge); otherwise it
// parks on its fd, in FIFO order per direction, until the epoll Backend
// reports an edge: EAGAIN always parks, never spins. A read prepares its
// ReadBuf only when it runs, so a deferring buffer (Pooled) takes memory
// only once the fd is ready, and gives it back if the read finds nothing.
// Timeouts sit in a TimerHeap whose earliest deadline bounds the wait.

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <variant>

#include "buf/internal/check.h"
#include "io/internal/driver_engine.h"

namespace readbuf {
namespace io_internal {
namespace {

// -errno for a failed syscall, retrying EINTR; `would_block` when it said
// EAGAIN / EWOULDBLOCK.
template <class F>
std::int32_t Run(F&& f, bool* would_block) {
  for (;;) {
    const ssize_t n = f();
    if (n >= 0) return static_cast<std::int32_t>(std::min<ssize_t>(n, INT32_MAX));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) *would_block = true;
    return -errno;
  }
}

// poll(2) without waiting: the revents of `events`, or 0.
short PollNow(int fd, short events) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 ? p.revents : 0;
}

bool ParksForWrite(const driver::Op& op) {
  return std::holds_alternative<driver::Send>(op) || std::holds_alternative<driver::SendV>(op) ||
         std::holds_alternative<driver::Connect>(op);
}

}  // namespace

void DriverEngine::StartPending() {
  while (DriverSlot* s = pending_.PopFront()) {
    if (const auto* t = std::get_if<driver::Timeout>(&s->desc)) {
      s->timer.deadline_ns = t->deadline.time_since_epoch().count();
      s->phase = DriverSlot::Phase::kTimer;
      ++waiting_;
      timers_.Push(&s->timer);
      continue;
    }
    if (s->dfd == nullptr) {  // ReadAt / WriteAt: a file has no readiness
      const bool finished = TryOnce(s);
      READBUF_DCHECK(finished, "a positional operation did not finish");
      (void)finished;
      continue;
    }
    TryOrPark(s);
  }
}

void DriverEngine::TryOrPark(DriverSlot* s) {
  DriverFd* df = s->dfd;
  const bool write = ParksForWrite(s->desc);
  // A connect() not yet issued needs no readiness.
  const bool fresh_connect = std::holds_alternative<driver::Connect>(s->desc) && !s->connecting;
  const bool ready = fresh_connect || (write ? df->writable : df->readable);
  // FIFO per direction: wait behind the parked ones.
  if (!ready || !(write ? df->writers : df->readers).empty() || !TryOnce(s)) Park(s);
}

bool DriverEngine::TryOnce(DriverSlot* s) {
  DriverFd* df = s->dfd;
  bool would_block = false;
  std::int32_t res = 0;
  // Reads into a ReadBuf: prepare (a deferring buffer takes memory only
  // now, the fd being ready or a file), then read into its unfilled space.
  auto read_into = [&](const driver::ReadBufRef& buf, auto&& one, auto&& many) -> std::int32_t {
    if (!buf.prepare().ok()) return -ENOBUFS;
    const std::size_t count = buf.unfilled(s->iov, s->offered);
    if (count == 0 || s->offered == 0) return -ENOBUFS;
    s->read_at = buf.write_ptr();
    const std::int32_t r =
        count == 1 ? Run([&] { return one(s->iov[0]); }, &would_block)
                   : Run([&] { return many(count); }, &would_block);
    if (would_block) {
      buf.release_idle();  // an idle parked read holds no memory
      s->read_at = nullptr;
    } else if (df != nullptr && r > 0 && static_cast<std::size_t>(r) < s->offered &&
               df->ShortReadDrains()) {
      df->readable = false;  // a short read drained the stream: wait for the next edge
    }
    return r;
  };
  res = std::visit(
      [&](const auto& op) -> std::int32_t {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, driver::ReadAt>) {
          return read_into(
              op.buf,
              [&](const iovec& v) { return ::pread(op.fd, v.iov_base, v.iov_len, op.offset); },
              [&](std::size_t count) {
                return ::preadv(op.fd, s->iov, static_cast<int>(count), op.offset);
              });
        } else if constexpr (std::is_same_v<T, driver::WriteAt>) {
          return Run([&] { return ::pwrite(op.fd, op.data.data(), op.data.size(), op.offset); },
                     &would_block);
        } else if constexpr (std::is_same_v<T, driver::Recv>) {
          return read_into(
              op.buf,
              [&](const iovec& v) { return ::recv(op.fd, v.iov_base, v.iov_len, MSG_DONTWAIT); },
              [&](std::size_t count) {
                s->msg = msghdr{};
                s->msg.msg_iov = s->iov;
                s->msg.msg_iovlen = count;
                return ::recvmsg(op.fd, &s->msg, MSG_DONTWAIT);
              });
        } else if constexpr (std::is_same_v<T, driver::Send>) {
          return Run(
              [&] {
                return ::send(op.fd, op.data.data(), op.data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
              },
              &would_block);
        } else if constexpr (std::is_same_v<T, driver::SendV>) {
          return Run(
              [&] {
                s->msg = msghdr{};
                s->msg.msg_iov = const_cast<iovec*>(op.iov.data());
                s->msg.msg_iovlen = op.iov.size();
                return ::sendmsg(op.fd, &s->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
              },
              &would_block);
        } else if constexpr (std::is_same_v<T, driver::Accept>) {
          return Run([&] { return ::accept4(op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); },
                     &would_block);
        } else if constexpr (std::is_same_v<T, driver::Connect>) {
          if (!s->connecting) {
            const std::int32_t r = Run(
                [&] { return ::connect(op.fd, op.addr.sockaddr_ptr(), op.addr.length()); },
                &would_block);
            if (r == -EINPROGRESS || would_block) {
              s->connecting = true;
              would_block = true;
            }
            return r;
          }
          // In progress: done once the socket is writable or failed.
          if (PollNow(op.fd, POLLOUT) == 0) {
            would_block = true;
            return -EINPROGRESS;
          }
          int err = 0;
          socklen_t len = sizeof(err);
          if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
          return -err;
        } else if constexpr (std::is_same_v<T, driver::PollReadable>) {
          const short revents = PollNow(op.fd, POLLIN);
          if (revents == 0) would_block = true;
          return revents;
        } else {
          static_assert(std::is_same_v<T, driver::Timeout>);
          READBUF_CHECK(false, "a Timeout is not tried");
          return 0;
        }
      },
      s->desc);
  if (df == nullptr) {
    // Positional ops on a non-blocking fd that is not a file report EAGAIN:
    // they have no readiness to wait for.
    would_block = false;
  } else if (would_block) {
    // The direction is not ready: the next edge says when it is.
    (ParksForWrite(s->desc) ? df->writable : df->readable) = false;
    return false;
  }
  Finish(s, res);
  return true;
}

void DriverEngine::Park(DriverSlot* s) {
  DriverFd* df = s->dfd;
  s->parked_write = ParksForWrite(s->desc);
  s->phase = DriverSlot::Phase::kParked;
  ++waiting_;
  (s->parked_write ? df->writers : df->readers).PushBack(s);
}

void DriverEngine::Unpark(DriverSlot* s) {
  (s->parked_write ? s->dfd->writers : s->dfd->readers).Remove(s);
}

void DriverEngine::RetryParked(DriverFd* df, bool write) {
  SlotList& list = write ? df->writers : df->readers;
  // Oldest first, while the direction stays ready.
  while (DriverSlot* s = list.head) {
    if (!(write ? df->writable : df->readable)) return;
    list.Remove(s);
    s->phase = DriverSlot::Phase::kPending;
    if (!TryOnce(s)) {
      // Still blocked: back at the front, until the next edge.
      s->phase = DriverSlot::Phase::kParked;
      s->link_next = list.head;
      s->link_prev = nullptr;
      if (list.head != nullptr) {
        list.head->link_prev = s;
      } else {
        list.tail = s;
      }
      list.head = s;
      return;
    }
    --waiting_;
  }
}

void DriverEngine::OnReadiness(FdState* fs, std::uint32_t bits) {
  DriverFd* df = static_cast<DriverFd*>(fs);
  if (bits & (kReadable | kReadClosed)) {
    df->readable = true;
    RetryParked(df, /*write=*/false);
  }
  if (bits & (kWritable | kWriteClosed)) {
    df->writable = true;
    RetryParked(df, /*write=*/true);
  }
}

void DriverEngine::FireTimers(std::int64_t now) {
  while (TimerNode* t = timers_.Top()) {
    if (t->deadline_ns > now) return;
    timers_.Remove(t);
    --waiting_;
    Finish(static_cast<DriverTimer*>(t)->slot, -ETIME);
  }
}

void DriverEngine::WaitEpoll(std::optional<std::int64_t> deadline_ns) {
  StartPending();
  for (;;) {
    const std::int64_t now = BootTimeNowNs();
    FireTimers(now);
    if (!ready_.empty()) return;
    if (deadline_ns.has_value() && *deadline_ns <= now) {
      backend_->Wait(0, this);  // a deadline that passed polls once
      FireTimers(BootTimeNowNs());
      return;
    }
    if (waiting_ == 0 && !deadline_ns.has_value()) return;  // nothing to wait for
    std::optional<std::int64_t> until = deadline_ns;
    if (const TimerNode* t = timers_.Top()) {
      until = until.has_value() ? std::min(*until, t->deadline_ns) : t->deadline_ns;
    }
    backend_->Wait(until, this);
  }
}

}  // namespace io_internal
}  // namespace readbuf
