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
#include <utility>

#include "absl/status/status.h"
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

  Pooled(Pooled&&) noexcept = default;
  Pooled& operator=(Pooled&&) noexcept = default;

  // True while a pool block is held.
  bool holds_memory() const { return !block_.empty(); }

  // Hook: takes a block if none is held. `size_hint`, if non-zero, caps the
  // block size below the adaptive estimate. A held block is kept, filled
  // bytes and all.
  // Errors: ResourceExhausted when the pool's cap is reached (the buffer
  // stays empty; the caller may retry later).
  absl::Status prepare(size_t size_hint) {
    if (!block_.empty()) return absl::OkStatus();
    size_t want = size_.next();
    if (size_hint != 0) want = std::min(want, size_hint);
    BufferPool& pool = pool_ != nullptr ? *pool_ : BufferPool::ForThisThread();
    absl::StatusOr<PoolBlock> block = pool.Acquire(want);
    if (!block.ok()) return block.status();
    block_ = *std::move(block);
    Reset(block_.data(), block_.capacity(), /*initialized=*/0);
    return absl::OkStatus();
  }

  // Hook: gives the block back when nothing is filled.
  void release_idle() {
    if (!block_.empty() && filled_size() == 0) ReleaseBlock();
  }

  // Hook: adaptive sizing feedback.
  void record_read(size_t bytes, size_t asked) { size_.record(bytes, asked); }

  // Hands the filled bytes out as PoolBytes -- the same block, no copy -- and
  // leaves this buffer holding no memory. Empty PoolBytes when nothing is
  // filled (the block, if any, goes back to the pool).
  PoolBytes take_filled() {
    if (block_.empty()) return PoolBytes();
    const size_t filled = filled_size();
    if (filled == 0) {
      ReleaseBlock();
      return PoolBytes();
    }
    Reset(nullptr, 0, 0);
    return PoolBytes(std::move(block_), filled);
  }

  // The next block size the adaptive estimate would ask for.
  size_t next_block_size() const { return size_.next(); }

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

  void ReleaseBlock() {
    Reset(nullptr, 0, 0);
    block_.Release();
  }

  PoolBlock block_;
  AdaptiveReadSize size_;
  BufferPool* pool_;
};

}  // namespace readbuf

#endif  // READBUF_BUF_POOLED_H_
