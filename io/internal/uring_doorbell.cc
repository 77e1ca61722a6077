// -----------------------------------------------------------------------------
// File: io/internal/uring_doorbell.cc
// -----------------------------------------------------------------------------
//
// The io_uring backend's doorbell (see uring_backend.h): how another thread
// wakes a core. From another core's thread, an IORING_OP_MSG_RING queued on
// the sender's own ring (CQE_SKIP_SUCCESS), which rides the sender's next
// io_uring_enter; from threads without a ring, or after a failed MSG_RING,
// a write to the target's eventfd, which a multishot poll watches.
// Thread safety: Notify() from any thread; the rest on the core's thread.

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

void UringBackend::Notify() {
  UringBackend* from = tls_thread_ring;
  if (from != nullptr && from != this && from->msg_ring_ok_) {
    from->SendWake(ring_.ring_fd, evfd_);
    return;
  }
  eventfd_writes_.fetch_add(1, std::memory_order_relaxed);
  WriteEventFd(evfd_);
}

DoorbellStats UringBackend::doorbell_stats() const {
  DoorbellStats st;
  st.eventfd_writes = eventfd_writes_.load(std::memory_order_relaxed);
  st.msg_ring_sends = msg_ring_sends_;
  st.msg_ring_received = msg_ring_received_;
  st.msg_ring_failures = msg_ring_failures_;
  return st;
}

void UringBackend::WriteEventFd(int fd) {
  std::uint64_t one = 1;
  while (::write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void UringBackend::SendWake(int target_ring_fd, int target_evfd) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_msg_ring(sqe, target_ring_fd, 0, kMsgRingWakeData, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(
      sqe, (static_cast<std::uint64_t>(static_cast<std::uint32_t>(target_evfd)) << 32) |
               kMsgRingFailedLow);
  ++msg_ring_sends_;
}

void UringBackend::ArmDoorbell() {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_poll_multishot(sqe, evfd_, POLLIN);
  io_uring_sqe_set_data64(sqe, kDoorbellData);
}

}  // namespace io_internal
}  // namespace readbuf
