#include "io/internal/buf_ring.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {

absl::StatusOr<std::unique_ptr<BufRing>> BufRing::Create(io_uring* uring, std::uint16_t group,
                                                         std::uint32_t entries,
                                                         std::size_t buffer_size,
                                                         BufferPool* pool) {
  READBUF_CHECK(entries != 0 && entries <= 32768 && (entries & (entries - 1)) == 0,
                "buffer ring entries %u: not a power of two in [1, 32768]", entries);
  // The ring itself must be page aligned: map it.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t bytes = (entries * sizeof(io_uring_buf) + page - 1) / page * page;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap(buffer ring)");
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  std::unique_ptr<BufRing> ring(
      new BufRing(uring, group, buffer_size, pool, br, bytes, entries));
  io_uring_buf_ring_init(br);
  for (std::uint32_t bid = 0; bid < entries; ++bid) {
    if (!ring->Fill(static_cast<std::uint16_t>(bid))) {
      return absl::ResourceExhaustedError(
          absl::StrCat("buffer ring: the pool refused buffer ", bid, " of ", entries));
    }
  }
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = entries;
  reg.bgid = group;
  const int r = io_uring_register_buf_ring(uring, &reg, 0);
  if (r < 0) {
    return absl::ErrnoToStatus(
        -r, absl::StrCat("io_uring_register_buf_ring(entries=", entries, ")"));
  }
  ring->registered_ = true;
  ring->Publish();
  return ring;
}

BufRing::BufRing(io_uring* uring, std::uint16_t group, std::size_t buffer_size, BufferPool* pool,
                 io_uring_buf_ring* br, std::size_t br_bytes, std::uint32_t entries)
    : uring_(uring),
      group_(group),
      buffer_size_(buffer_size),
      pool_(pool),
      br_(br),
      br_bytes_(br_bytes),
      mask_(io_uring_buf_ring_mask(entries)),
      slots_(entries) {}

BufRing::~BufRing() {
  if (registered_) io_uring_unregister_buf_ring(uring_, group_);
  ::munmap(br_, br_bytes_);
  // slots_ returns the blocks to the pool.
}

bool BufRing::Fill(std::uint16_t bid) {
  absl::StatusOr<PoolBlock> block = pool_->Acquire(buffer_size_);
  if (!block.ok()) return false;
  const std::size_t len = block->capacity() < buffer_size_ ? block->capacity() : buffer_size_;
  io_uring_buf_ring_add(br_, block->data(), static_cast<unsigned>(len), bid, mask_, pending_);
  ++pending_;
  ++in_ring_;
  block_capacity_ = block->capacity();
  bytes_registered_ += block->capacity();
  slots_[bid] = *std::move(block);
  return true;
}

PoolBytes BufRing::Take(std::uint16_t bid, std::size_t n) {
  READBUF_CHECK(bid < slots_.size() && !slots_[bid].empty(),
                "buffer ring: completion names buffer %u, which the ring does not hold",
                static_cast<unsigned>(bid));
  PoolBlock block = std::move(slots_[bid]);
  --in_ring_;
  bytes_registered_ -= block.capacity();
  if (!Fill(bid)) {
    ++refill_failures_;
    empty_.push_back(bid);
  }
  return PoolBytes(std::move(block), n);
}

void BufRing::Publish() {
  while (!empty_.empty() && Fill(empty_.back())) empty_.pop_back();
  if (pending_ != 0) {
    io_uring_buf_ring_advance(br_, pending_);
    pending_ = 0;
  }
}

}  // namespace io_internal
}  // namespace readbuf
