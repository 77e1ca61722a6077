// -----------------------------------------------------------------------------
// File: io/internal/driver_uring.cc
// -----------------------------------------------------------------------------
//
// DriverEngine on io_uring: each operation becomes one KernelOp (io/internal/
// kernel_op.h) that the io_uring backend starts and completes exactly as it
// does a task's File::read_at, except that the completion goes to this
// engine (KernelOpSink) instead of a core. A read's ReadBuf is prepared when
// its op is pushed (its SQE is written then). submit_and_wait() is one
// Backend::Wait: the queued SQEs and the wait go out in one io_uring_enter.

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <variant>

#include "buf/internal/check.h"
#include "io/internal/driver_engine.h"

namespace readbuf {
namespace io_internal {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::uint32_t ClampLen(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, INT_MAX));
}

}  // namespace

void DriverEngine::StartKernelOp(DriverSlot* s) {
  s->state = KernelOp::State::kIdle;
  s->buf = nullptr;
  s->len = 0;
  s->op_flags = 0;
  s->offset = 0;
  s->extra = nullptr;
  s->fd = -1;
  s->phase = DriverSlot::Phase::kInFlight;
  // Fills the op from a ReadBuf: one segment reads into it directly, more
  // use the vectored kind. Returns -errno when the buffer offers nothing.
  auto from_buf = [s](const driver::ReadBufRef& buf, KernelOp::Kind one,
                      KernelOp::Kind many) -> std::int32_t {
    if (!buf.prepare().ok()) return -ENOBUFS;
    const std::size_t count = buf.unfilled(s->iov, s->offered);
    if (count == 0 || s->offered == 0) return -ENOBUFS;
    s->read_at = buf.write_ptr();
    if (count == 1) {
      s->kind = one;
      s->buf = s->iov[0].iov_base;
      s->len = ClampLen(s->iov[0].iov_len);
      s->offered = s->len;
    } else if (many == KernelOp::Kind::kRecvMsg) {
      s->kind = many;
      s->msg = msghdr{};
      s->msg.msg_iov = s->iov;
      s->msg.msg_iovlen = count;
      s->extra = &s->msg;
    } else {
      s->kind = many;
      s->extra = s->iov;
      s->len = static_cast<std::uint32_t>(count);
    }
    return 0;
  };
  const std::int32_t early = std::visit(
      Overloaded{
          [&](const driver::ReadAt& op) {
            s->fd = op.fd;
            s->offset = op.offset;
            return from_buf(op.buf, KernelOp::Kind::kRead, KernelOp::Kind::kReadV);
          },
          [&](const driver::WriteAt& op) {
            s->kind = KernelOp::Kind::kWrite;
            s->fd = op.fd;
            s->buf = const_cast<std::byte*>(op.data.data());
            s->len = ClampLen(op.data.size());
            s->offset = op.offset;
            return 0;
          },
          [&](const driver::Recv& op) {
            s->fd = op.fd;
            return from_buf(op.buf, KernelOp::Kind::kRecv, KernelOp::Kind::kRecvMsg);
          },
          [&](const driver::Send& op) {
            s->kind = KernelOp::Kind::kSend;
            s->fd = op.fd;
            s->buf = const_cast<std::byte*>(op.data.data());
            s->len = ClampLen(op.data.size());
            s->op_flags = MSG_NOSIGNAL;
            return 0;
          },
          [&](const driver::SendV& op) {
            s->kind = KernelOp::Kind::kSendMsg;
            s->fd = op.fd;
            s->msg = msghdr{};
            s->msg.msg_iov = const_cast<iovec*>(op.iov.data());
            s->msg.msg_iovlen = op.iov.size();
            s->extra = &s->msg;
            s->op_flags = MSG_NOSIGNAL;
            return 0;
          },
          [&](const driver::Accept& op) {
            s->kind = KernelOp::Kind::kAccept;
            s->fd = op.fd;
            s->op_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
            return 0;
          },
          [&](const driver::Connect& op) {
            s->kind = KernelOp::Kind::kConnect;
            s->fd = op.fd;
            // The address lives in the slot's copy of the op.
            const auto& kept = std::get<driver::Connect>(s->desc);
            s->extra = const_cast<sockaddr*>(kept.addr.sockaddr_ptr());
            s->len = kept.addr.length();
            return 0;
          },
          [&](const driver::Timeout& op) {
            const std::int64_t ns = op.deadline.time_since_epoch().count();
            s->kind = KernelOp::Kind::kTimeout;
            s->ts.tv_sec = ns / 1'000'000'000;
            s->ts.tv_nsec = ns % 1'000'000'000;
            s->extra = &s->ts;
            s->op_flags = IORING_TIMEOUT_ABS | IORING_TIMEOUT_BOOTTIME;
            return 0;
          },
          [&](const driver::PollReadable& op) {
            s->kind = KernelOp::Kind::kPoll;
            s->fd = op.fd;
            s->op_flags = POLLIN;
            return 0;
          },
      },
      s->desc);
  if (early < 0) {
    Finish(s, early);
    return;
  }
  backend_->Submit(s);
}

void DriverEngine::OnKernelOpDone(KernelOp* op) {
  DriverSlot* s = static_cast<DriverSlot*>(op);
  READBUF_DCHECK(s->phase == DriverSlot::Phase::kInFlight, "completion for an idle driver slot");
  Finish(s, op->result);
}

void DriverEngine::WaitUring(std::optional<std::int64_t> deadline_ns) {
  for (;;) {
    const bool poll = !ready_.empty() || (deadline_ns.has_value() && *deadline_ns <= BootTimeNowNs());
    if (!poll && in_flight_ == 0 && !deadline_ns.has_value()) return;  // nothing to wait for
    backend_->Wait(poll ? std::optional<std::int64_t>(0) : deadline_ns, this);
    if (poll || !ready_.empty()) return;
    // Woken by a completion that was not an operation's (a cancel's): wait on.
  }
}

}  // namespace io_internal
}  // namespace readbuf
