// -----------------------------------------------------------------------------
// File: io/internal/uring_recv_ring.cc
// -----------------------------------------------------------------------------
//
// The io_uring provided-buffer receive ring (io/internal/recv_ring.h; see
// uring_backend.h): per-connection multishot recvs into two buffer groups
// (small, registered on the first Attach; large, on the first connection
// that needs it), each connection moved between them by its
// AdaptiveReadSize; completions queue on the connection as owning PoolBytes
// (at most max_queued_bytes_per_connection, then the recv pauses); ENOBUFS,
// EOF, errors and an unsupported kernel end a recv with a state the next
// Take reports. The process-wide default RecvRingOptions live here too.
// Thread safety: the core's thread only, except the default options
// (mutex).

#include <errno.h>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "buf/adaptive_size.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "io/internal/env_flag.h"
#include "io/internal/fd_state.h"
#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

namespace {

std::mutex default_options_mu;
RecvRingOptions& DefaultOptionsLocked() {
  static RecvRingOptions* options = new RecvRingOptions();
  return *options;
}

bool EnvDisablesRing() { return EnvFlagIsOff("READBUF_RECV_RING"); }

// Multishot recv needs Linux 6.0.
bool KernelHasMultishotRecv() {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0;
  int minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 0);
}

}  // namespace

RecvConn* UringBackend::Attach(FdState* fs) {
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
    } else {
      s.recv->file_index = RegisterFile(fs->fd);
    }
  }
  return s.recv;
}

RecvTake UringBackend::Take(RecvConn* c, std::size_t max, PoolBytes* out, absl::Status* error) {
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

void UringBackend::SetWaiter(RecvConn* c, RunNode* node) {
  READBUF_CHECK(c->waiter == nullptr, "two tasks reading fd %d through the ring",
                c->fs != nullptr ? c->fs->fd : -1);
  c->waiter = node;
}

void UringBackend::AbandonWait(RecvConn* c, RunNode* node) {
  if (c->waiter == node) c->waiter = nullptr;
  if (c->armed && !c->cancel_sent) CancelRecv(c);
}

void UringBackend::EndFallback(RecvConn* c) {
  if (c->end == RecvConn::End::kNoBufs) c->end = RecvConn::End::kNone;
}

absl::Status UringBackend::Configure(const RecvRingOptions& options) {
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

RecvRingStats UringBackend::Stats() {
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
  st.batched_waits = batched_waits_;
  st.registered_files = files_registered_;
  st.file_registration_failures = file_registration_failures_;
  st.completions = completions_;
  st.bytes_received = bytes_received_;
  st.arms = arms_;
  st.enobufs = enobufs_;
  st.fallback_reads = fallback_reads_;
  st.queue_cap_pauses = queue_cap_pauses_;
  return st;
}

bool UringBackend::EnsureBufRing() {
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

void UringBackend::ArmRecv(RecvConn* c, std::size_t max) {
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
  if (c->file_index >= 0) {
    io_uring_prep_recv_multishot(sqe, c->file_index, nullptr, len, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
  } else {
    io_uring_prep_recv_multishot(sqe, c->fs->fd, nullptr, len, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = ring->group();
  io_uring_sqe_set_data64(sqe, UserData(idx));
}

AdaptiveReadSize::Limits UringBackend::AdaptiveLimits() const {
  const auto small = static_cast<std::uint32_t>(options_.buffer_size);
  const auto large = static_cast<std::uint32_t>(
      options_.large_buffer_size > options_.buffer_size ? options_.large_buffer_size
                                                        : options_.buffer_size);
  return AdaptiveReadSize::Limits{.min = small, .initial = small, .max = large};
}

bool UringBackend::EnsureLargeRing() {
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

void UringBackend::Adapt(RecvConn* c, std::size_t got, std::size_t buffer_size, bool more) {
  c->size.record(got, buffer_size);
  const bool want_large = c->size.next() > options_.buffer_size;
  if (want_large == c->large) return;
  if (want_large && !EnsureLargeRing()) return;
  c->large = want_large;
  ++group_switches_;
  // The armed recv keeps its group: end it; the next Take re-arms.
  if (more && !c->cancel_sent) CancelRecv(c);
}

void UringBackend::CancelRecv(RecvConn* c) {
  c->cancel_sent = true;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_cancel64(sqe, UserData(c->op), 0);
  io_uring_sqe_set_data64(sqe, kIgnoreData);
}

void UringBackend::DropQueue(RecvConn* c) {
  for (std::size_t i = c->head; i < c->queue.size(); ++i) {
    queued_bytes_ -= c->queue[i].bytes.size();
    queued_pool_bytes_ -= c->queue[i].block_capacity;
    --queued_buffers_;
  }
  c->queue.clear();
  c->head = 0;
  c->queued_bytes = 0;
}

void UringBackend::DetachConn(RecvConn* c) {
  if (RunNode* w = std::exchange(c->waiter, nullptr)) CurrentCore()->Schedule(w);
  c->fs = nullptr;
  // Before the fd is closed: the table entry holds the socket open.
  if (c->file_index >= 0) UnregisterFile(std::exchange(c->file_index, -1));
  DropQueue(c);
  if (c->armed) {
    if (!c->cancel_sent) CancelRecv(c);
    return;
  }
  delete c;
  --connections_;
}

void UringBackend::DispatchRecv(std::uint32_t idx, io_uring_cqe* cqe) {
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

}  // namespace io_internal
}  // namespace readbuf
