// -----------------------------------------------------------------------------
// File: buf/pool_bytes.h
// -----------------------------------------------------------------------------
//
// PoolBytes: owned bytes living in a BufferPool block (block + offset +
// length). Move-only; slicing narrows the view without copying. Share() turns
// it into SharedPoolBytes: an immutable, copyable, atomically refcounted view
// whose last copy returns the block to its pool, on any thread.
//
// Use PoolBytes for data a read produced into a pooled block (the `Pooled`
// buffer policy and `pooled_read` hand these out), and SharedPoolBytes when
// several owners, possibly on several threads, need the same bytes.
//
// Example:
//
//   absl::StatusOr<readbuf::PoolBlock> block = pool.Acquire(4096);
//   ...
//   std::size_t n = ReadInto(block->span());            // fills n bytes
//   readbuf::PoolBytes bytes(*std::move(block), n);     // no copy
//   readbuf::PoolBytes body = std::move(bytes).slice(kHeaderSize);
//   readbuf::SharedPoolBytes shared = std::move(body).Share();
//   Dispatch(shared.slice(0, 16), shared);              // copies share the block

#ifndef READBUF_BUF_POOL_BYTES_H_
#define READBUF_BUF_POOL_BYTES_H_

#include <atomic>
#include <cstddef>
#include <span>
#include <utility>

#include "buf/buffer_pool.h"
#include "buf/internal/check.h"

namespace readbuf {

class SharedPoolBytes;

// PoolBytes
//
// Owns one PoolBlock and views `size()` bytes of it starting at some offset.
// The bytes outside the view are never exposed again. An empty PoolBytes
// (default-constructed or moved-from) has size() == 0 and data() == nullptr,
// and owns no block; like a moved-from std::vector, it may be reused.
//
// Thread safety: distinct objects, safe; one object, unsafe. May be moved to
// and destroyed on any thread.
class PoolBytes {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  PoolBytes() noexcept = default;

  // Takes `block` and views its first `length` bytes: the bytes a reader
  // filled. REQUIRES: !block.empty(); length <= block.capacity().
  PoolBytes(PoolBlock block, std::size_t length)
      : PoolBytes(std::move(block), 0, length) {}

  // Takes `block` and views [offset, offset + length).
  // REQUIRES: !block.empty(); offset + length <= block.capacity().
  PoolBytes(PoolBlock block, std::size_t offset, std::size_t length);

  PoolBytes(PoolBytes&& other) noexcept
      : block_(std::move(other.block_)), data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  PoolBytes& operator=(PoolBytes&& other) noexcept {
    if (this != &other) {
      block_ = std::move(other.block_);
      data_ = other.data_;
      size_ = other.size_;
      other.data_ = nullptr;
      other.size_ = 0;
    }
    return *this;
  }
  PoolBytes(const PoolBytes&) = delete;
  PoolBytes& operator=(const PoolBytes&) = delete;
  ~PoolBytes() = default;

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  // The sole owner may modify the bytes in place (e.g. unmasking).
  std::span<std::byte> mutable_span() noexcept { return {data_, size_}; }

  // A borrowed view of [offset, offset + length); `npos` means "to the end".
  // REQUIRES: offset <= size(); length == npos or offset + length <= size().
  std::span<const std::byte> subspan(std::size_t offset,
                                     std::size_t length = npos) const {
    CheckRange(offset, length);
    return {data_ + offset, length == npos ? size_ - offset : length};
  }

  // Narrows this PoolBytes to [offset, offset + length) and returns it; the
  // same block, no copy. Same REQUIRES as subspan().
  PoolBytes slice(std::size_t offset, std::size_t length = npos) && {
    CheckRange(offset, length);
    data_ += offset;
    size_ = length == npos ? size_ - offset : length;
    return std::move(*this);
  }

  // REQUIRES: n <= size().
  void RemovePrefix(std::size_t n) {
    CheckRange(n, npos);
    data_ += n;
    size_ -= n;
  }
  // REQUIRES: n <= size().
  void RemoveSuffix(std::size_t n) {
    CheckRange(n, npos);
    size_ -= n;
  }

  // Converts to a refcounted immutable view of the same bytes. Allocates a
  // 64-byte control block from a pool: the block's own pool when called on
  // its owner thread, else BufferPool::ForThisThread(). Control blocks count
  // in bytes_in_use but are never refused by max_bytes_in_use. Sharing an
  // empty PoolBytes gives an empty SharedPoolBytes (and releases the block).
  SharedPoolBytes Share() &&;

 private:
  void CheckRange(std::size_t offset, std::size_t length) const {
    READBUF_CHECK(offset <= size_ && (length == npos || length <= size_ - offset),
                  "PoolBytes range [%zu, +%zu) outside size %zu", offset,
                  length, size_);
  }

  PoolBlock block_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace buf_internal {

// Lives in a pool block of its own; `self` is that block.
struct SharedBytesControl {
  std::atomic<std::size_t> refs;
  PoolBlock payload;
  PoolBlock self;
};

// Drops the last reference: returns the payload and the control block.
void DestroySharedBytesControl(SharedBytesControl* control) noexcept;

}  // namespace buf_internal

// SharedPoolBytes
//
// An immutable view of bytes in a pool block, shared by all its copies
// through an atomic refcount. The last copy to go returns the block to its
// pool. An empty SharedPoolBytes (default-constructed or moved-from) has
// size() == 0, data() == nullptr and use_count() == 0.
//
// Thread safety: distinct objects, safe, even when they share a block; one
// object, unsafe. Copies may be made, read and dropped on any thread.
class SharedPoolBytes {
 public:
  static constexpr std::size_t npos = PoolBytes::npos;

  SharedPoolBytes() noexcept = default;
  SharedPoolBytes(const SharedPoolBytes& other) noexcept
      : control_(other.control_), data_(other.data_), size_(other.size_) {
    Ref();
  }
  SharedPoolBytes& operator=(const SharedPoolBytes& other) noexcept {
    if (this != &other) {
      other.Ref();
      Unref();
      control_ = other.control_;
      data_ = other.data_;
      size_ = other.size_;
    }
    return *this;
  }
  SharedPoolBytes(SharedPoolBytes&& other) noexcept
      : control_(other.control_), data_(other.data_), size_(other.size_) {
    other.Forget();
  }
  SharedPoolBytes& operator=(SharedPoolBytes&& other) noexcept {
    if (this != &other) {
      Unref();
      control_ = other.control_;
      data_ = other.data_;
      size_ = other.size_;
      other.Forget();
    }
    return *this;
  }
  ~SharedPoolBytes() { Unref(); }

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }

  // Same contract as PoolBytes::subspan().
  std::span<const std::byte> subspan(std::size_t offset,
                                     std::size_t length = npos) const {
    CheckRange(offset, length);
    return {data_ + offset, length == npos ? size_ - offset : length};
  }

  // Another reference to the same block, viewing [offset, offset + length).
  // REQUIRES: offset <= size(); length == npos or offset + length <= size().
  SharedPoolBytes slice(std::size_t offset, std::size_t length = npos) const {
    CheckRange(offset, length);
    SharedPoolBytes result(*this);
    result.data_ += offset;
    result.size_ = length == npos ? size_ - offset : length;
    return result;
  }

  // REQUIRES: n <= size().
  void RemovePrefix(std::size_t n) {
    CheckRange(n, npos);
    data_ += n;
    size_ -= n;
  }
  // REQUIRES: n <= size().
  void RemoveSuffix(std::size_t n) {
    CheckRange(n, npos);
    size_ -= n;
  }

  // How many SharedPoolBytes share the block (0 when empty). Exact only when
  // no other thread is copying or dropping one.
  std::size_t use_count() const noexcept {
    return control_ == nullptr
               ? 0
               : control_->refs.load(std::memory_order_relaxed);
  }

 private:
  friend class PoolBytes;

  SharedPoolBytes(buf_internal::SharedBytesControl* control,
                  const std::byte* data, std::size_t size) noexcept
      : control_(control), data_(data), size_(size) {}

  void CheckRange(std::size_t offset, std::size_t length) const {
    READBUF_CHECK(offset <= size_ && (length == npos || length <= size_ - offset),
                  "SharedPoolBytes range [%zu, +%zu) outside size %zu", offset,
                  length, size_);
  }
  void Ref() const noexcept {
    if (control_ != nullptr) {
      control_->refs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void Unref() noexcept {
    if (control_ != nullptr &&
        control_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      buf_internal::DestroySharedBytesControl(control_);
    }
  }
  void Forget() noexcept {
    control_ = nullptr;
    data_ = nullptr;
    size_ = 0;
  }

  buf_internal::SharedBytesControl* control_ = nullptr;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_BUF_POOL_BYTES_H_
