// -----------------------------------------------------------------------------
// File: buf/pooled.h
// -----------------------------------------------------------------------------
//
// Pooled: a ReadBuf policy that holds *no memory* while a read is pending.
// The io layer calls its prepare() hook only after the source is ready; only
// then does it take a block from the calling core's BufferPool (mimalloc
// heap), sized by AdaptiveReadSize from the connection's past reads. Once the
// data is consumed, release_idle() gives the block back before the next wait.
// A server with 10,000 idle connections therefore holds no read buffers.
// The filled bytes can leave as PoolBytes without a copy (take_filled()).
// A buffered reader (buf/buffered.h) grows it while keeping its data
// (reserve(): a larger block, one copy of the kept bytes) and hands a prefix
// of its data out without a copy (take_filled(offset, length)).
//
// Example:
//
//   readbuf::Pooled buf;                         // 0 bytes held
//   co_await stream.readable();                   // wait first
//   RETURN_IF_ERROR(readbuf::read_buf_traits<readbuf::Pooled>::prepare(buf, 0));
//   ... read into buf.unfilled(), buf.advance(n) ...
//   readbuf::PoolBytes bytes = buf.take_filled();  // zero-copy hand-off

#ifndef READBUF_BUF_POOLED_H_
#define READBUF_BUF_POOLED_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "buf/adaptive_size.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf_window.h"

namespace readbuf {

// Pooled
//
// Models ContiguousReadBuf. Move-only. capacity() is 0 until prepare() and
// after release_idle()/take_filled(); then it is the block's size class.
// A block from the pool counts as uninitialized (initialized_size() starts at
// 0), even when the pool zeroed it on release.
//
// Thread safety: distinct objects are safe; one object is not. prepare()
// takes memory from the pool of the thread that calls it (its core); the
// block may be released on any thread.
class Pooled : public ReadBufWindow {
 public:
  static constexpr bool kDefersMemory = true;

  struct Options {
    // Bounds and start of the adaptive block size.
    // Default: 512 B .. 128 KiB, starting at 8 KiB.
    AdaptiveReadSize::Limits sizing;
    // The pool to take blocks from. Default (nullptr): the calling thread's
    // BufferPool::ForThisThread(), looked up at each prepare().
    BufferPool* pool = nullptr;
  };

  Pooled() : Pooled(Options()) {}
  explicit Pooled(const Options& options)
      : size_(options.sizing), pool_(options.pool) {}
  // Blocks of at most `max_capacity` bytes (adaptive below that).
  // REQUIRES: 0 < max_capacity < 2^32 (CHECKed).
  explicit Pooled(size_t max_capacity) : Pooled(LimitsFor(max_capacity)) {}

  Pooled(Pooled&& other) noexcept
      : ReadBufWindow(std::move(other)), size_(other.size_), pool_(other.pool_),
        block_pool_(std::exchange(other.block_pool_, nullptr)) {}
  Pooled& operator=(Pooled&& other) noexcept {
    if (this != &other) {
      if (holds_memory()) Unhold();  // released here
      ReadBufWindow::operator=(std::move(other));
      size_ = other.size_;
      pool_ = other.pool_;
      block_pool_ = std::exchange(other.block_pool_, nullptr);
    }
    return *this;
  }
  ~Pooled() {
    if (holds_memory()) Unhold();
  }

  // True while a pool block is held.
  bool holds_memory() const { return block_pool_ != nullptr; }

  // Hook: takes a block if none is held. `size_hint`, if non-zero, caps the
  // block size below the adaptive estimate. A held block is kept, filled
  // bytes and all.
  // Errors: ResourceExhausted when the pool's cap is reached (the buffer
  // stays empty; the caller may retry later).
  absl::Status prepare(size_t size_hint) {
    if (holds_memory()) return absl::OkStatus();
    size_t want = size_.next();
    if (size_hint != 0) want = std::min(want, size_hint);
    BufferPool& pool = pool_ != nullptr ? *pool_ : BufferPool::ForThisThread();
    absl::StatusOr<PoolBlock> block = pool.Acquire(want);
    if (!block.ok()) return block.status();
    Hold(*std::move(block));
    return absl::OkStatus();
  }

  // Hook: gives the block back when nothing is filled.
  void release_idle() {
    if (holds_memory() && filled_size() == 0) ReleaseBlock();
  }

  // Hook: adaptive sizing feedback.
  void record_read(size_t bytes, size_t asked) { size_.record(bytes, asked); }

  // Hands the filled bytes out as PoolBytes -- the same block, no copy -- and
  // leaves this buffer holding no memory. Empty PoolBytes when nothing is
  // filled (the block, if any, goes back to the pool).
  PoolBytes take_filled() {
    if (!holds_memory()) return PoolBytes();
    const size_t filled = filled_size();
    if (filled == 0) {
      ReleaseBlock();
      return PoolBytes();
    }
    PoolBlock block = Unhold();
    Reset(nullptr, 0, 0);
    return PoolBytes(std::move(block), filled);
  }

  // The next block size the adaptive estimate would ask for.
  size_t next_block_size() const { return size_.next(); }

  // Hook (see read_buf_traits::reserve): makes capacity() >= min_capacity,
  // keeping the filled bytes from `keep_from` on as the front of the filled
  // region. Copies: the kept bytes, once -- memmove inside the held block
  // when it is already large enough, else memcpy into a new block of at
  // least min_capacity bytes, after which the old block goes back to the
  // pool. With no block held, takes one (nothing to copy). Adaptive sizing
  // is not consulted: the caller knows how much it must hold.
  // REQUIRES: keep_from <= filled_size() (CHECKed).
  // Errors: ResourceExhausted when min_capacity (or the kept bytes) exceed
  // max_capacity(), or when the pool refuses the block; the buffer is then
  // unchanged.
  absl::Status reserve(size_t min_capacity, size_t keep_from) {
    READBUF_CHECK(keep_from <= filled_size(),
                  "Pooled::reserve: keep_from=%zu past filled_size()=%zu",
                  keep_from, filled_size());
    const size_t keep = filled_size() - keep_from;
    min_capacity = std::max(min_capacity, keep);
    if (holds_memory() && capacity() >= min_capacity) {
      if (keep_from != 0) {
        std::memmove(data(), data() + keep_from, keep);
        SetFilledAfterMove(keep);
      }
      return absl::OkStatus();
    }
    if (min_capacity > max_capacity()) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "Pooled::reserve(%zu): above the policy's largest block, "
          "max_capacity=%zu",
          min_capacity, max_capacity()));
    }
    BufferPool& pool = pool_ != nullptr ? *pool_ : BufferPool::ForThisThread();
    absl::StatusOr<PoolBlock> block = pool.Acquire(min_capacity);
    if (!block.ok()) return block.status();
    if (keep != 0) std::memcpy(block->data(), data() + keep_from, keep);
    PoolBlock old = holds_memory() ? Unhold() : PoolBlock();
    Hold(*std::move(block));
    SetFilled(keep);
    // `old` goes back to its pool here.
    return absl::OkStatus();
  }

  // Hook: the largest block reserve() takes, Options::sizing.max (the
  // `max_capacity` of the Pooled(size_t) constructor).
  size_t max_capacity() const { return size_.max(); }

  // Hook (see read_buf_traits::take_filled): hands filled bytes
  // [offset, offset + length) out as PoolBytes viewing this same block --
  // those bytes are not copied. The filled bytes before `offset` are dropped.
  // The filled bytes after the range (the tail) stay in this buffer: they
  // are copied once to the front of a new block (of at least the tail and
  // the adaptive size); with no tail nothing is copied and this buffer holds
  // no memory afterwards (as after take_filled()).
  // REQUIRES: offset + length <= filled_size(); length > 0 (CHECKed).
  // Errors: ResourceExhausted when the pool refuses the block for the tail;
  // the buffer is then unchanged.
  absl::StatusOr<PoolBytes> take_filled(size_t offset, size_t length) {
    READBUF_CHECK(length > 0 && offset <= filled_size() &&
                      length <= filled_size() - offset,
                  "Pooled::take_filled(%zu, %zu) outside filled_size()=%zu",
                  offset, length, filled_size());
    const size_t tail = filled_size() - offset - length;
    PoolBlock next;
    if (tail != 0) {
      BufferPool& pool =
          pool_ != nullptr ? *pool_ : BufferPool::ForThisThread();
      absl::StatusOr<PoolBlock> block =
          pool.Acquire(std::max(tail, size_.next()));
      if (!block.ok()) return block.status();
      std::memcpy(block->data(), data() + offset + length, tail);
      next = *std::move(block);
    }
    PoolBytes out(Unhold(), offset, length);
    if (next.empty()) {
      Reset(nullptr, 0, 0);
    } else {
      Hold(std::move(next));
      SetFilled(tail);
    }
    return out;
  }

 private:
  static Options LimitsFor(size_t max_capacity) {
    READBUF_CHECK(max_capacity > 0 && max_capacity <= UINT32_MAX,
                  "Pooled(max_capacity=%zu): must be in [1, 2^32)", max_capacity);
    Options options;
    const auto cap = static_cast<uint32_t>(max_capacity);
    options.sizing.max = cap;
    options.sizing.initial = std::min(options.sizing.initial, cap);
    options.sizing.min = std::min(options.sizing.min, cap);
    return options;
  }

  // The held block is the window's data() and capacity() plus the pool it
  // came from (block_pool_): a PoolBlock beside the window would store the
  // pointer and size twice, in every idle connection.
  //
  // Takes ownership of `block` and points the window at it (nothing
  // filled). REQUIRES: !holds_memory(); !block.empty().
  void Hold(PoolBlock block) {
    std::byte* const d = block.data();
    const size_t c = block.capacity();
    block_pool_ = buf_internal::PoolBlockAccess::Disown(block);
    Reset(d, c, /*initialized=*/0);
  }
  // Gives up ownership of the held block as a handle; the window still
  // points at it until the caller Resets it. REQUIRES: holds_memory().
  PoolBlock Unhold() {
    return buf_internal::PoolBlockAccess::Adopt(
        data(), std::exchange(block_pool_, nullptr), capacity());
  }

  void ReleaseBlock() {
    PoolBlock block = Unhold();
    Reset(nullptr, 0, 0);
  }

  // After moving `filled` kept bytes to the front of the same block.
  void SetFilledAfterMove(size_t filled) {
    const size_t initialized = initialized_size();
    Reset(data(), capacity(), initialized);
    SetFilled(filled);
  }

  AdaptiveReadSize size_;
  BufferPool* pool_;
  buf_internal::PoolCore* block_pool_ = nullptr;  // non-null while a block is held
};

}  // namespace readbuf

#endif  // READBUF_BUF_POOLED_H_
