// -----------------------------------------------------------------------------
// File: buf/buffer_pool.h
// -----------------------------------------------------------------------------
//
// BufferPool is a per-thread (per-core) pool of read buffers. Each pool owns
// one mimalloc heap (`mi_heap_new`) and caches released blocks in power-of-two
// size classes (64 B .. 1 MiB) on free lists that only its owner thread
// touches, so the owner's Acquire/release fast path takes no lock and does no
// atomic read-modify-write. A block released on another thread goes back to
// its owner through a lock-free stack. Retention is bounded
// (`max_retained_bytes`), `Trim()` / `TrimIfIdle()` give memory back to the
// OS, and `max_bytes_in_use` caps what a pool hands out.
//
// Use it where a server needs many short-lived I/O buffers on a reactor
// thread; `PoolBytes` (buf/pool_bytes.h) turns a filled block into owned,
// sliceable, shareable bytes.
//
// Under `--config=asan` / `--config=tsan` (`--define=readbuf_allocator=system`)
// the pool uses malloc/free instead of mimalloc, so the sanitizer sees every
// block; retained blocks are then ASan-poisoned until re-acquired.
//
// Example:
//
//   readbuf::BufferPool& pool = readbuf::BufferPool::ForThisThread();
//   absl::StatusOr<readbuf::PoolBlock> block = pool.Acquire(16 * 1024);
//   if (!block.ok()) return block.status();
//   ssize_t n = ::read(fd, block->data(), block->capacity());
//   ...   // `*block` returns to `pool` when it goes out of scope, on any thread.

#ifndef READBUF_BUF_BUFFER_POOL_H_
#define READBUF_BUF_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"
#include "buf/internal/pool_core.h"

namespace readbuf {

class PoolBytes;

namespace buf_internal {
struct PoolBlockAccess;
}  // namespace buf_internal

// BufferPoolOptions
//
// Settings for a BufferPool (also reachable as `BufferPool::Options`).
struct BufferPoolOptions {
  // Acquire fails with ResourceExhausted instead of handing out more than
  // this many bytes (sum of capacities of live blocks).
  // Default: no cap.
  std::size_t max_bytes_in_use = std::numeric_limits<std::size_t>::max();

  // Released blocks are cached for reuse up to this many bytes; beyond it a
  // released block goes straight back to the heap.
  // Default: 4 MiB.
  std::size_t max_retained_bytes = std::size_t{4} << 20;

  // TrimIfIdle(now) trims once nothing was acquired or released for this long.
  // absl::InfiniteDuration() turns idle trimming off.
  // Default: 10 seconds.
  absl::Duration idle_trim_after = absl::Seconds(10);

  // Zero every block when it is released (on the releasing thread), with a
  // store the compiler cannot elide, so one connection's bytes never reach
  // the next user. A re-acquired cached block is then all zeros; a block
  // fresh from the heap is still uninitialised.
  // Default: false.
  bool zero_on_release = false;
};

// BufferPoolStats
//
// A snapshot of one pool's counters (see BufferPool::Stats()).
struct BufferPoolStats {
  std::size_t bytes_in_use = 0;    // Capacity of live blocks.
  std::size_t bytes_retained = 0;  // Capacity cached on the free lists.
  std::uint64_t blocks_in_use = 0;
  std::uint64_t hits = 0;    // Acquires served from a free list.
  std::uint64_t misses = 0;  // Acquires served by the heap.
  std::uint64_t trims = 0;
  std::uint64_t cross_thread_releases = 0;  // Blocks released off-thread.
  std::uint64_t cap_rejections = 0;         // Acquires refused by the cap.
};

// PoolBlock
//
// An owned, move-only block of `capacity()` bytes from a BufferPool. The
// memory goes back to its pool when the handle is destroyed or Release()d,
// on whatever thread that happens, even after the pool itself is gone. The
// bytes are uninitialised when acquired (zeros for a re-acquired block of a
// pool with `zero_on_release`). Aligned to alignof(std::max_align_t).
//
// An empty handle (default-constructed, moved-from or released) has
// capacity() == 0 and owns nothing. Calling data(), span() or Release() on it
// is a bug: a READBUF_DCHECK failure in debug builds; in release builds
// data() is nullptr, span() is empty and Release() does nothing.
//
// Thread safety: distinct objects, safe; one object, unsafe. A block may be
// moved to and released on any thread.
class PoolBlock {
 public:
  PoolBlock() noexcept = default;
  PoolBlock(PoolBlock&& other) noexcept
      : data_(other.data_), core_(other.core_), capacity_(other.capacity_) {
    other.Forget();
  }
  PoolBlock& operator=(PoolBlock&& other) noexcept {
    if (this != &other) {
      Reset();
      data_ = other.data_;
      core_ = other.core_;
      capacity_ = other.capacity_;
      other.Forget();
    }
    return *this;
  }
  PoolBlock(const PoolBlock&) = delete;
  PoolBlock& operator=(const PoolBlock&) = delete;
  ~PoolBlock() { Reset(); }

  // REQUIRES: !empty().
  std::byte* data() const noexcept {
    READBUF_DCHECK(data_ != nullptr,
                   "PoolBlock::data() on an empty handle (default-constructed, "
                   "moved-from or released)");
    return data_;
  }
  // REQUIRES: !empty().
  std::span<std::byte> span() const noexcept {
    READBUF_DCHECK(data_ != nullptr,
                   "PoolBlock::span() on an empty handle (default-constructed, "
                   "moved-from or released)");
    return {data_, capacity_};
  }
  // Usable bytes: the size class (>= the requested size); 0 when empty.
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return data_ == nullptr; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

  // Returns the memory to its pool now; the handle becomes empty.
  // REQUIRES: !empty().
  void Release() noexcept {
    READBUF_DCHECK(data_ != nullptr,
                   "PoolBlock::Release() on an empty handle (double release, "
                   "or moved-from)");
    Reset();
  }

 private:
  friend class BufferPool;
  friend struct buf_internal::PoolBlockAccess;

  PoolBlock(std::byte* data, buf_internal::PoolCore* core,
            std::size_t capacity) noexcept
      : data_(data), core_(core), capacity_(capacity) {}

  void Reset() noexcept {
    if (data_ != nullptr) {
      core_->Release(data_, capacity_);
      Forget();
    }
  }
  void Forget() noexcept {
    data_ = nullptr;
    core_ = nullptr;
    capacity_ = 0;
  }

  std::byte* data_ = nullptr;
  buf_internal::PoolCore* core_ = nullptr;
  std::size_t capacity_ = 0;
};

// BufferPool
//
// One pool per thread. The thread that constructs a pool owns it; Acquire,
// Trim, TrimIfIdle, Stats and the destructor must run on that thread. Blocks
// may be released anywhere.
//
// Lifetime rule: a pool may be destroyed while its blocks are still alive.
// Its retained blocks are freed at once; each outstanding block is freed
// (mi_free / free, both thread-safe) when it is released, and the pool's
// small shared state (buf_internal::PoolCore) is deleted with the last one.
// The mimalloc heap is deleted with `mi_heap_delete`, which keeps live blocks
// valid. A pool must be destroyed before its owner thread exits (mimalloc
// deletes a thread's heaps when the thread ends); ForThisThread() pools are.
//
// Thread safety: Acquire, Trim, TrimIfIdle, Stats: owner thread only
// (READBUF_DCHECK in debug builds). Releasing a PoolBlock: any thread.
class BufferPool {
 public:
  using Options = BufferPoolOptions;

  // The largest pooled size class; bigger requests go straight to the heap
  // and are never retained.
  static constexpr std::size_t kMaxPooledBlockSize =
      buf_internal::kMaxPooledBlockSize;
  static constexpr std::size_t kMinBlockSize = buf_internal::kMinBlockSize;

  // The calling thread's pool, created with default Options on first use and
  // destroyed when the thread exits.
  // REQUIRES: not called from a thread_local destructor that runs after the
  // pool's own.
  static BufferPool& ForThisThread();

  // A pool owned by the calling thread.
  BufferPool();
  explicit BufferPool(const Options& options);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  // REQUIRES: called on the owner thread.
  ~BufferPool();

  // A block of at least `size` bytes: the smallest size class that fits
  // (Acquire(0) gives a kMinBlockSize block), or exactly `size` bytes above
  // kMaxPooledBlockSize. Fails with ResourceExhausted if the block would
  // take bytes_in_use over `max_bytes_in_use`, or if the heap is out of
  // memory.
  // REQUIRES: called on the owner thread.
  absl::StatusOr<PoolBlock> Acquire(std::size_t size);

  // Frees every retained block and asks the heap to return free memory to
  // the OS (`mi_heap_collect(heap, true)`). Also processes pending
  // cross-thread releases first. mimalloc decommits the freed pages on its
  // own schedule (options decommit_delay / segment_decommit_delay, 25 ms /
  // 500 ms by default in mimalloc 2.0), so RSS may drop a little later; set
  // MIMALLOC_DECOMMIT_DELAY=0 for an immediate drop. With the system
  // allocator the blocks are free()d and the allocator decides.
  // REQUIRES: called on the owner thread.
  void Trim();

  // Trims when no block was acquired or released (on any thread) since a
  // TrimIfIdle call made at least `idle_trim_after` before `now`; at most
  // once per idle period. Activity is detected by comparing counters with
  // the previous call, not by reading a clock per operation, so the pool
  // never trims early and at most one call period late. Otherwise O(1): a
  // few loads and compares, plus taking any pending cross-thread releases.
  // Meant to be called periodically (e.g. by the reactor) with a monotonic
  // `now`. Returns true if it trimmed.
  // REQUIRES: called on the owner thread.
  bool TrimIfIdle(absl::Time now);

  // Exact counters: pending cross-thread releases are processed first.
  // REQUIRES: called on the owner thread.
  BufferPoolStats Stats();

  const Options& options() const noexcept { return options_; }

  // True when built with the system-allocator backend (sanitizer builds).
  static bool UsesSystemAllocator() noexcept;

 private:
  friend class BufferPoolTestPeer;
  friend class PoolBytes;

  absl::StatusOr<PoolBlock> AcquireSlow(std::size_t size);
  // A block for a control structure: never refused by the cap (it still
  // counts in bytes_in_use). CHECK-fails only if the heap is out of memory.
  PoolBlock AcquireUncapped(std::size_t size);
  static PoolBlock AcquireUncappedFrom(buf_internal::PoolCore* core,
                                       std::size_t size);

  Options options_;
  buf_internal::PoolCore* core_;  // Owned until Close(); see lifetime rule.
};

// Implementation details follow.

inline absl::StatusOr<PoolBlock> BufferPool::Acquire(std::size_t size) {
  READBUF_DCHECK(core_->IsOwnerThread(),
                 "BufferPool::Acquire(%zu) called on a thread that does not "
                 "own the pool",
                 size);
  if (ABSL_PREDICT_TRUE(size <= kMaxPooledBlockSize)) {
    const std::size_t index = buf_internal::SizeClassIndex(size);
    const std::size_t capacity = buf_internal::SizeClassCapacity(index);
    std::byte* data = core_->TryAcquireRetained(index, capacity);
    if (ABSL_PREDICT_TRUE(data != nullptr)) {
      return PoolBlock(data, core_, capacity);
    }
  }
  return AcquireSlow(size);
}

namespace buf_internal {

// Lets pool_bytes.h build and inspect PoolBlocks.
struct PoolBlockAccess {
  static PoolCore* Core(const PoolBlock& block) noexcept {
    return block.core_;
  }
  // Empties `block` without releasing it and returns its pool; the caller
  // keeps data() and capacity() and gives them back to Adopt.
  static PoolCore* Disown(PoolBlock& block) noexcept {
    PoolCore* core = block.core_;
    block.Forget();
    return core;
  }
  // A handle again for a block Disown emptied.
  static PoolBlock Adopt(std::byte* data, PoolCore* core,
                         std::size_t capacity) noexcept {
    return PoolBlock(data, core, capacity);
  }
};

}  // namespace buf_internal
}  // namespace readbuf

#endif  // READBUF_BUF_BUFFER_POOL_H_
