// File: buf/buffer_pool.cc
//
// BufferPool and the slow paths of buf_internal::PoolCore: the heap backend,
// draining the remote-free stack, trimming and closing.

#include "buf/buffer_pool.h"

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
#include <mimalloc.h>
#endif

namespace readbuf {
namespace buf_internal {

namespace {

// The value of `remote_head_` once the owner has closed the pool. Never
// dereferenced.
FreeNode closed_sentinel{nullptr, 0};

}  // namespace

FreeNode* PoolCore::ClosedSentinel() noexcept { return &closed_sentinel; }

PoolCore::PoolCore(const PoolConfig& config)
    : owner_(ThisThreadToken()),
      config_(config),
      retain_budget_(config.max_retained_bytes) {
  in_use_budget_ = InUseLimit();
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
  heap_ = mi_heap_new();
  READBUF_CHECK(heap_ != nullptr, "mi_heap_new() failed");
#endif
}

std::byte* PoolCore::HeapAllocate(std::size_t size) noexcept {
#ifdef READBUF_POOL_SYSTEM_ALLOCATOR
  return static_cast<std::byte*>(std::malloc(size));
#else
  return static_cast<std::byte*>(
      mi_heap_malloc(static_cast<mi_heap_t*>(heap_), size));
#endif
}

void PoolCore::HeapFree(std::byte* data, std::size_t capacity) noexcept {
  // A retained block is poisoned; the allocator must be able to touch it.
  UnpoisonBlock(data, capacity);
#ifdef READBUF_POOL_SYSTEM_ALLOCATOR
  std::free(data);
#else
  mi_free(data);  // Thread-safe, whichever heap the block came from.
#endif
}

PoolCore::SlowResult PoolCore::AcquireSlow(std::size_t size,
                                           bool enforce_cap) noexcept {
  const bool pooled = size <= kMaxPooledBlockSize;
  const std::size_t index = pooled ? SizeClassIndex(size) : 0;
  const std::size_t capacity = pooled ? SizeClassCapacity(index) : size;
  // Blocks released by other threads may refill the free list or lower
  // bytes_in_use below the cap.
  DrainRemote();
  if (enforce_cap && static_cast<std::int64_t>(capacity) > in_use_budget_) {
    ++cap_rejections_;
    return {nullptr, capacity, Failure::kCap};
  }
  if (pooled && free_[index] != nullptr) {
    FreeNode* node = free_[index];
    UnpoisonBlock(node, capacity);
    free_[index] = node->next;
    if (config_.zero_on_release) SecureZero(node, sizeof(FreeNode));
    retain_budget_ += capacity;
    in_use_budget_ -= static_cast<std::int64_t>(capacity);
    ++hits_;
    return {reinterpret_cast<std::byte*>(node), capacity, Failure::kNone};
  }
  std::byte* data = HeapAllocate(capacity);
  if (data == nullptr) return {nullptr, capacity, Failure::kOutOfMemory};
  in_use_budget_ -= static_cast<std::int64_t>(capacity);
  ++misses_;
  return {data, capacity, Failure::kNone};
}

void PoolCore::ReleaseOwned(std::byte* data, std::size_t capacity,
                            bool already_zeroed) noexcept {
  in_use_budget_ += static_cast<std::int64_t>(capacity);
  ++releases_;
  if (config_.zero_on_release && !already_zeroed) SecureZero(data, capacity);
  if (capacity <= kMaxPooledBlockSize && capacity <= retain_budget_) {
    PushFree(data, SizeClassOfCapacity(capacity), capacity);
  } else {
    HeapFree(data, capacity);
  }
}

void PoolCore::ReleaseSlow(std::byte* data, std::size_t capacity) noexcept {
  if (IsOwnerThread()) {
    ReleaseOwned(data, capacity, /*already_zeroed=*/false);
    return;
  }
  // Another thread, or the owner after Close(). `config_` is immutable and
  // this core stays alive while `data` is outstanding.
  if (config_.zero_on_release) SecureZero(data, capacity);
  FreeNode* node = ::new (data) FreeNode{nullptr, capacity};
  FreeNode* head = remote_head_.load(std::memory_order_relaxed);
  for (;;) {
    if (head == ClosedSentinel()) break;
    node->next = head;
    if (remote_head_.compare_exchange_weak(head, node,
                                           std::memory_order_release,
                                           std::memory_order_relaxed)) {
      return;  // The owner takes it from here; do not touch `this` again.
    }
  }
  // The pool is closed: free the block here, and the core with the last one.
  HeapFree(data, capacity);
  if (orphans_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void PoolCore::DrainRemoteSlow() noexcept {
  FreeNode* node = remote_head_.exchange(nullptr, std::memory_order_acquire);
  while (node != nullptr) {
    FreeNode* next = node->next;
    ++cross_thread_releases_;
    ReleaseOwned(reinterpret_cast<std::byte*>(node), node->capacity,
                 /*already_zeroed=*/true);
    node = next;
  }
}

void PoolCore::FreeRetained() noexcept {
  for (std::size_t index = 0; index < kNumSizeClasses; ++index) {
    const std::size_t capacity = SizeClassCapacity(index);
    FreeNode* node = free_[index];
    while (node != nullptr) {
      UnpoisonBlock(node, capacity);
      FreeNode* next = node->next;
      HeapFree(reinterpret_cast<std::byte*>(node), capacity);
      node = next;
    }
    free_[index] = nullptr;
  }
  retain_budget_ = config_.max_retained_bytes;
}

void PoolCore::Trim() noexcept {
  DrainRemote();
  FreeRetained();
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
  mi_heap_collect(static_cast<mi_heap_t*>(heap_), /*force=*/true);
#endif
  ++trims_;
  trimmed_since_activity_ = true;
}

bool PoolCore::TrimIfIdle(absl::Time now) noexcept {
  DrainRemote();
  // Any acquire or release changes this sum; comparing it with the value at
  // the previous call detects activity without a clock read per operation.
  const std::uint64_t activity = hits_ + misses_ + releases_;
  if (activity != activity_seen_) {
    activity_seen_ = activity;
    last_active_ = now;
    trimmed_since_activity_ = false;
    return false;
  }
  if (trimmed_since_activity_ || now - last_active_ < config_.idle_trim_after) {
    return false;
  }
  Trim();
  return true;
}

void PoolCore::Close() noexcept {
  owner_.store(nullptr, std::memory_order_relaxed);
  // From here on every release takes the remote path and meets the sentinel.
  FreeNode* node =
      remote_head_.exchange(ClosedSentinel(), std::memory_order_acq_rel);
  while (node != nullptr) {
    FreeNode* next = node->next;
    in_use_budget_ += static_cast<std::int64_t>(node->capacity);
    ++releases_;
    ++cross_thread_releases_;
    HeapFree(reinterpret_cast<std::byte*>(node), node->capacity);
    node = next;
  }
  FreeRetained();
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
  // Unlike mi_heap_destroy, keeps the outstanding blocks valid.
  mi_heap_delete(static_cast<mi_heap_t*>(heap_));
  heap_ = nullptr;
#endif
  const auto outstanding = static_cast<std::int64_t>(BlocksInUse());
  // Releases that met the sentinel already subtracted themselves.
  if (orphans_.fetch_add(outstanding, std::memory_order_acq_rel) +
          outstanding ==
      0) {
    delete this;
  }
}

}  // namespace buf_internal

namespace {

buf_internal::PoolConfig ToConfig(const BufferPoolOptions& options) {
  return {options.max_bytes_in_use, options.max_retained_bytes,
          options.idle_trim_after, options.zero_on_release};
}

}  // namespace

BufferPool& BufferPool::ForThisThread() {
  thread_local BufferPool pool;
  return pool;
}

bool BufferPool::UsesSystemAllocator() noexcept {
#ifdef READBUF_POOL_SYSTEM_ALLOCATOR
  return true;
#else
  return false;
#endif
}

BufferPool::BufferPool() : BufferPool(Options()) {}

BufferPool::BufferPool(const Options& options)
    : options_(options), core_(new buf_internal::PoolCore(ToConfig(options))) {}

BufferPool::~BufferPool() {
  READBUF_DCHECK(core_->IsOwnerThread(),
                 "BufferPool destroyed on a thread that does not own it");
  core_->Close();
}

absl::StatusOr<PoolBlock> BufferPool::AcquireSlow(std::size_t size) {
  const buf_internal::PoolCore::SlowResult result =
      core_->AcquireSlow(size, /*enforce_cap=*/true);
  switch (result.failure) {
    case buf_internal::PoolCore::Failure::kNone:
      break;
    case buf_internal::PoolCore::Failure::kCap:
      return absl::ResourceExhaustedError(absl::StrFormat(
          "BufferPool::Acquire(%zu): a %zu-byte block would exceed "
          "max_bytes_in_use (%zu bytes in use of %zu)",
          size, result.capacity, core_->BytesInUse(),
          options_.max_bytes_in_use));
    case buf_internal::PoolCore::Failure::kOutOfMemory:
      return absl::ResourceExhaustedError(absl::StrFormat(
          "BufferPool::Acquire(%zu): out of memory allocating %zu bytes", size,
          result.capacity));
  }
  return PoolBlock(result.data, core_, result.capacity);
}

PoolBlock BufferPool::AcquireUncapped(std::size_t size) {
  return AcquireUncappedFrom(core_, size);
}

PoolBlock BufferPool::AcquireUncappedFrom(buf_internal::PoolCore* core,
                                          std::size_t size) {
  READBUF_DCHECK(core->IsOwnerThread(),
                 "BufferPool: control block acquired off the owner thread");
  // AcquireSlow also serves from the free lists; TryAcquireRetained would
  // apply the cap.
  const buf_internal::PoolCore::SlowResult result =
      core->AcquireSlow(size, /*enforce_cap=*/false);
  READBUF_CHECK(result.data != nullptr,
                "BufferPool: out of memory allocating %zu bytes",
                result.capacity);
  return PoolBlock(result.data, core, result.capacity);
}

void BufferPool::Trim() {
  READBUF_DCHECK(core_->IsOwnerThread(),
                 "BufferPool::Trim() called on a thread that does not own the "
                 "pool");
  core_->Trim();
}

bool BufferPool::TrimIfIdle(absl::Time now) {
  READBUF_DCHECK(core_->IsOwnerThread(),
                 "BufferPool::TrimIfIdle() called on a thread that does not "
                 "own the pool");
  return core_->TrimIfIdle(now);
}

BufferPoolStats BufferPool::Stats() {
  READBUF_DCHECK(core_->IsOwnerThread(),
                 "BufferPool::Stats() called on a thread that does not own "
                 "the pool");
  core_->DrainRemote();
  const buf_internal::PoolCore& core = *core_;
  BufferPoolStats stats;
  stats.bytes_in_use = core.BytesInUse();
  stats.bytes_retained = core.BytesRetained();
  stats.blocks_in_use = core.BlocksInUse();
  stats.hits = core.hits_;
  stats.misses = core.misses_;
  stats.trims = core.trims_;
  stats.cross_thread_releases = core.cross_thread_releases_;
  stats.cap_rejections = core.cap_rejections_;
  return stats;
}

}  // namespace readbuf
