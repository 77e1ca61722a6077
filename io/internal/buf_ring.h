// -----------------------------------------------------------------------------
// File: io/internal/buf_ring.h
// -----------------------------------------------------------------------------
//
// BufRing: one io_uring provided-buffer ring (IORING_REGISTER_PBUF_RING,
// kernel >= 5.19) whose buffers are blocks of a BufferPool. The kernel picks
// a buffer only when data arrives; Take() then hands that block out as
// PoolBytes (no copy) and refills the slot with a fresh block, so the ring
// stays full and the bytes a reader holds never alias a slot the kernel can
// write again. Refilled slots become visible to the kernel at Publish().
//
// Example (inside the io_uring backend):
//
//   auto ring = BufRing::Create(&uring, /*group=*/0, 256, 16384, &pool);
//   ...  // cqe with IORING_CQE_F_BUFFER:
//   PoolBytes bytes = (*ring)->Take(cqe->flags >> IORING_CQE_BUFFER_SHIFT, n);
//   (*ring)->Publish();
//
// Thread safety: one thread (the core's); the pool must be owned by it.

#ifndef READBUF_IO_INTERNAL_BUF_RING_H_
#define READBUF_IO_INTERNAL_BUF_RING_H_

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"

namespace readbuf {
namespace io_internal {

class BufRing {
 public:
  // Registers a ring of `entries` buffers of `buffer_size` bytes as buffer
  // group `group` of `uring`, filled from `pool`.
  // REQUIRES: entries is a power of two <= 32768; `uring` and `pool` outlive
  // the BufRing.
  // Errors: ResourceExhausted if the pool refuses the blocks; the
  // registration's errno (EINVAL: kernel older than 5.19).
  static absl::StatusOr<std::unique_ptr<BufRing>> Create(io_uring* uring,
                                                         std::uint16_t group,
                                                         std::uint32_t entries,
                                                         std::size_t buffer_size,
                                                         BufferPool* pool);

  // Unregisters the group and returns the blocks to the pool.
  // REQUIRES: no request that selects from the group is in flight.
  ~BufRing();
  BufRing(const BufRing&) = delete;
  BufRing& operator=(const BufRing&) = delete;

  std::uint16_t group() const { return group_; }
  std::uint32_t entries() const { return static_cast<std::uint32_t>(slots_.size()); }
  std::size_t buffer_size() const { return buffer_size_; }
  // Pool bytes one buffer takes (its block's capacity).
  std::size_t block_capacity() const { return block_capacity_; }

  // The block the kernel filled as buffer `bid`, viewing its first `n`
  // bytes. The slot is refilled from the pool (visible after Publish()); if
  // the pool refuses, it stays empty until a later Publish() succeeds.
  // REQUIRES: `bid` was reported by a CQE with IORING_CQE_F_BUFFER.
  PoolBytes Take(std::uint16_t bid, std::size_t n);

  // Makes refilled slots visible to the kernel and retries empty ones.
  void Publish();

  std::uint32_t buffers_in_ring() const { return in_ring_; }
  std::size_t bytes_registered() const { return bytes_registered_; }
  std::uint64_t refill_failures() const { return refill_failures_; }

 private:
  BufRing(io_uring* uring, std::uint16_t group, std::size_t buffer_size,
          BufferPool* pool, io_uring_buf_ring* br, std::size_t br_bytes,
          std::uint32_t entries);
  bool Fill(std::uint16_t bid);

  io_uring* const uring_;
  const std::uint16_t group_;
  const std::size_t buffer_size_;
  BufferPool* const pool_;
  io_uring_buf_ring* const br_;
  const std::size_t br_bytes_;
  const int mask_;
  bool registered_ = false;
  std::vector<PoolBlock> slots_;  // indexed by bid
  std::vector<std::uint16_t> empty_;  // bids whose refill failed
  int pending_ = 0;                 // slots added since the last advance
  std::uint32_t in_ring_ = 0;
  std::size_t bytes_registered_ = 0;
  std::uint64_t refill_failures_ = 0;
  std::size_t block_capacity_ = 0;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_BUF_RING_H_
