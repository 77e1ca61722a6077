// -----------------------------------------------------------------------------
// File: buf/internal/pool_core.h
// -----------------------------------------------------------------------------
//
// The state behind one readbuf::BufferPool: the size classes, the owner's free
// lists, the cross-thread "remote free" stack and the lifetime rule that lets a
// block outlive its pool. Only buf/buffer_pool.h and buf/pool_bytes.h use it;
// nothing here is API.
//
// Layout of the work:
//   * The owner thread does everything with plain loads and stores: the free
//     lists (intrusive: the link lives in the first bytes of a free block),
//     the byte counts and the statistics.
//   * Another thread that releases a block pushes it onto `remote_head_`, a
//     lock-free multi-producer stack (CAS, release order). The owner takes the
//     whole stack with one exchange when a free list runs dry, before it
//     refuses an Acquire on the cap, and in Trim / TrimIfIdle / Stats.
//   * Lifetime: closing the pool (BufferPool's destructor) swaps the remote
//     stack for a "closed" sentinel, then adds the number of blocks still held
//     elsewhere to `orphans_`. A release that meets the sentinel frees the
//     block itself (mi_free / free are thread-safe) and decrements `orphans_`;
//     whoever brings it to zero deletes the PoolCore. So the PoolCore lives
//     until its last block is back, and the BufferPool object does not.

#ifndef READBUF_BUF_INTERNAL_POOL_CORE_H_
#define READBUF_BUF_INTERNAL_POOL_CORE_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "absl/base/optimization.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define READBUF_POOL_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define READBUF_POOL_HAVE_ASAN 1
#endif
#endif

#ifdef READBUF_POOL_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace readbuf {

class BufferPool;
class BufferPoolTestPeer;

namespace buf_internal {

// Size classes: powers of two from kMinBlockSize to kMaxPooledBlockSize.
inline constexpr std::size_t kMinBlockShift = 6;   // 64 B
inline constexpr std::size_t kMaxBlockShift = 20;  // 1 MiB
inline constexpr std::size_t kMinBlockSize = std::size_t{1} << kMinBlockShift;
inline constexpr std::size_t kMaxPooledBlockSize = std::size_t{1}
                                                   << kMaxBlockShift;
inline constexpr std::size_t kNumSizeClasses =
    kMaxBlockShift - kMinBlockShift + 1;

// REQUIRES: size <= kMaxPooledBlockSize.
constexpr std::size_t SizeClassIndex(std::size_t size) noexcept {
  return size <= kMinBlockSize
             ? 0
             : static_cast<std::size_t>(std::bit_width(size - 1)) -
                   kMinBlockShift;
}

constexpr std::size_t SizeClassCapacity(std::size_t index) noexcept {
  return kMinBlockSize << index;
}

// The index of a pooled block's class from its capacity (a power of two).
// REQUIRES: capacity is a power of two.
constexpr std::size_t SizeClassOfCapacity(std::size_t capacity) noexcept {
  return static_cast<std::size_t>(__builtin_ctzll(capacity)) - kMinBlockShift;
}

// What a free block holds while it sits on a free list or the remote stack.
// Every block is at least kMinBlockSize bytes, so it always fits.
struct FreeNode {
  FreeNode* next;
  std::size_t capacity;  // Set on the remote stack; unused on free lists.
};
static_assert(sizeof(FreeNode) <= kMinBlockSize);

// Identifies the calling thread: the address of a thread_local. Unique among
// live threads, which is all a pool needs, because a pool must be destroyed
// before its owner thread exits.
inline const void* ThisThreadToken() noexcept {
  thread_local char token;
  return &token;
}

inline void PoisonBlock(const void* p, std::size_t n) noexcept {
#ifdef READBUF_POOL_HAVE_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

inline void UnpoisonBlock(const void* p, std::size_t n) noexcept {
#ifdef READBUF_POOL_HAVE_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

// memset that the compiler cannot drop as a dead store: the empty asm takes
// the pointer and clobbers memory, so the zeros must be in memory by then.
inline void SecureZero(void* p, std::size_t n) noexcept {
  std::memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

// Settings copied from BufferPoolOptions; immutable after construction, so
// any thread may read them.
struct PoolConfig {
  std::size_t max_bytes_in_use;
  std::size_t max_retained_bytes;
  absl::Duration idle_trim_after;
  bool zero_on_release;
};

// Thread safety: Release() may be called from any thread. Everything else is
// for the owner thread (the one that constructed it) only.
class PoolCore {
 public:
  enum class Failure { kNone, kCap, kOutOfMemory };
  struct SlowResult {
    std::byte* data;
    std::size_t capacity;
    Failure failure;
  };

  explicit PoolCore(const PoolConfig& config);
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  bool IsOwnerThread() const noexcept {
    return owner_.load(std::memory_order_relaxed) == ThisThreadToken();
  }

  // Owner thread. A retained block of class `index` (whose capacity is
  // `capacity`) if one is cached and the cap allows it; nullptr otherwise.
  // No atomics, no locks.
  std::byte* TryAcquireRetained(std::size_t index,
                                std::size_t capacity) noexcept {
    FreeNode* node = free_[index];
    if (ABSL_PREDICT_FALSE(node == nullptr ||
                           static_cast<std::int64_t>(capacity) >
                               in_use_budget_)) {
      return nullptr;
    }
    UnpoisonBlock(node, capacity);
    free_[index] = node->next;
    if (config_.zero_on_release) {
      // The rest of the block was zeroed on release; clear the link too.
      SecureZero(node, sizeof(FreeNode));
    }
    retain_budget_ += capacity;
    in_use_budget_ -= static_cast<std::int64_t>(capacity);
    ++hits_;
    return reinterpret_cast<std::byte*>(node);
  }

  // Owner thread. Everything TryAcquireRetained does not handle: drains the
  // remote stack, enforces the cap (if `enforce_cap`), falls back to the heap.
  SlowResult AcquireSlow(std::size_t size, bool enforce_cap) noexcept;

  // Any thread. Returns a block of `capacity` bytes acquired from this core.
  void Release(std::byte* data, std::size_t capacity) noexcept {
    if (ABSL_PREDICT_TRUE(IsOwnerThread() && !config_.zero_on_release &&
                          capacity <= kMaxPooledBlockSize &&
                          capacity <= retain_budget_)) {
      in_use_budget_ += static_cast<std::int64_t>(capacity);
      ++releases_;
      PushFree(data, SizeClassOfCapacity(capacity), capacity);
      return;
    }
    ReleaseSlow(data, capacity);
  }

  // Owner thread.
  void DrainRemote() noexcept {
    if (remote_head_.load(std::memory_order_relaxed) != nullptr) {
      DrainRemoteSlow();
    }
  }
  void Trim() noexcept;
  bool TrimIfIdle(absl::Time now) noexcept;

  // Owner thread; ends the owner's use of this core. Deletes it now if no
  // block is outstanding, else the last release does.
  void Close() noexcept;

  const PoolConfig& config() const noexcept { return config_; }

 private:
  friend class ::readbuf::BufferPool;
  friend class ::readbuf::BufferPoolTestPeer;

  ~PoolCore() = default;

  void PushFree(std::byte* data, std::size_t index,
                std::size_t capacity) noexcept {
    FreeNode* node = ::new (data) FreeNode;
    node->next = free_[index];
    free_[index] = node;
    retain_budget_ -= capacity;
    PoisonBlock(data, capacity);
  }

  void ReleaseSlow(std::byte* data, std::size_t capacity) noexcept;
  // Owner thread: a block comes back (from this thread or the remote stack).
  void ReleaseOwned(std::byte* data, std::size_t capacity,
                    bool already_zeroed) noexcept;
  void DrainRemoteSlow() noexcept;
  // Returns every retained block to the heap.
  void FreeRetained() noexcept;
  std::uint64_t BlocksInUse() const noexcept {
    return hits_ + misses_ - releases_;
  }
  std::int64_t InUseLimit() const noexcept {
    return config_.max_bytes_in_use > std::size_t{INT64_MAX}
               ? INT64_MAX
               : static_cast<std::int64_t>(config_.max_bytes_in_use);
  }
  std::size_t BytesInUse() const noexcept {
    return static_cast<std::size_t>(InUseLimit() - in_use_budget_);
  }
  std::size_t BytesRetained() const noexcept {
    return config_.max_retained_bytes - retain_budget_;
  }

  // Backend (mimalloc heap, or malloc/free under READBUF_POOL_SYSTEM_ALLOCATOR).
  std::byte* HeapAllocate(std::size_t size) noexcept;
  static void HeapFree(std::byte* data, std::size_t capacity) noexcept;

  static FreeNode* ClosedSentinel() noexcept;

  // Read-mostly: read by every releasing thread, written once by Close().
  alignas(64) std::atomic<const void*> owner_;
  const PoolConfig config_;

  // Owner-thread state: plain loads and stores only.
  alignas(64) FreeNode* free_[kNumSizeClasses] = {};
  // InUseLimit() - bytes in use, and max_retained_bytes - bytes retained:
  // one compare and one update each on the fast paths. The first goes
  // negative when uncapped acquires (control blocks) pass the cap.
  std::int64_t in_use_budget_;
  std::size_t retain_budget_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t releases_ = 0;  // Every block that came back, any thread.
  std::uint64_t cross_thread_releases_ = 0;
  std::uint64_t cap_rejections_ = 0;
  std::uint64_t trims_ = 0;
  // TrimIfIdle bookkeeping.
  std::uint64_t activity_seen_ = 0;
  absl::Time last_active_ = absl::InfinitePast();
  bool trimmed_since_activity_ = true;
  void* heap_ = nullptr;  // mi_heap_t*; nullptr for the system backend.

  // Touched by other threads.
  alignas(64) std::atomic<FreeNode*> remote_head_{nullptr};
  std::atomic<std::int64_t> orphans_{0};
};

}  // namespace buf_internal
}  // namespace readbuf

#endif  // READBUF_BUF_INTERNAL_POOL_CORE_H_
