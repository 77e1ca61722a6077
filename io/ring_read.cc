#include "io/ring_read.h"

#include "absl/status/status.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/internal/recv_ring.h"

namespace readbuf {

absl::Status SetDefaultRecvRingOptions(const RecvRingOptions& options) {
  if (absl::Status s = io_internal::ValidateRecvRingOptions(options); !s.ok()) return s;
  io_internal::SetDefaultRecvRingOptions(options);
  return absl::OkStatus();
}

absl::Status ConfigureRecvRing(const RecvRingOptions& options) {
  io_internal::Core* core = io_internal::CurrentCore();
  READBUF_CHECK(core != nullptr, "ConfigureRecvRing outside a reactor core");
  io_internal::RecvRing* ring = core->backend()->recv_ring();
  if (ring == nullptr) {
    return absl::UnavailableError(
        "ConfigureRecvRing: this core does not run io_uring (no provided-buffer ring)");
  }
  return ring->Configure(options);
}

RecvRingStats recv_ring_stats() {
  io_internal::Core* core = io_internal::CurrentCore();
  READBUF_CHECK(core != nullptr, "recv_ring_stats outside a reactor core");
  io_internal::RecvRing* ring = core->backend()->recv_ring();
  return ring == nullptr ? RecvRingStats() : ring->Stats();
}

namespace io_internal {

RingConn AttachRing(AsyncFd& fd) {
  Core* core = CurrentCore();
  FdState* fs = AsyncFdAccess::State(fd);
  if (core == nullptr || fs == nullptr) return {};
  RecvRing* ring = core->backend()->recv_ring();
  if (ring == nullptr) return {};
  Core* owner = fs->owner();
  if (owner == nullptr) {
    // The ring needs the fd registered: its close must reach the backend so
    // the multishot recv is cancelled.
    if (!core->Register(fs).ok()) return {};
  } else if (owner != core) {
    return {};  // the readiness path reports the misuse
  }
  RecvConn* conn = ring->Attach(fs);
  if (conn == nullptr) return {};
  return RingConn{ring, conn};
}

}  // namespace io_internal
}  // namespace readbuf
