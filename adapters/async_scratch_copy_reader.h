// -----------------------------------------------------------------------------
// File: adapters/async_scratch_copy_reader.h
// -----------------------------------------------------------------------------
//
// AsyncScratchCopyReader<R> is the scratch-plus-copy bridge for opaque async
// span readers -- `co_await r.read(span)` (AsyncSpanReader), with no way to
// wait for readiness apart from reading -- giving owned, pooled output:
// `co_await read_owned(max)` -> PoolBytes (AsyncOwnedReader). Each read goes
// into a 64 KiB scratch buffer of the calling thread's free list (zeroed once,
// when it was made); only after the read completed, and only when it brought
// bytes, is a pool block of exactly that size taken and the bytes copied into
// it. The output holds exactly what arrived, never a half-empty buffer.
//
// Copies: 1 (scratch -> pool block). Zeroes: each scratch buffer once.
//
// Memory while waiting: such a reader keeps its span until it completes, so a
// pending read holds one scratch buffer (the synchronous ScratchCopyReader
// holds none between calls). Scratch buffers are the thread's, reused by the
// next read as soon as one completes; at most ScratchLease::kKeptIdle stay
// allocated when idle. A reader that has ready() + try_read() should use
// AsyncReadyToOwnedReader instead: nothing held while waiting, no copy.
//
// Contract for R: the span is written only until the read's awaitable
// completes; R does not keep it afterwards.
//
// Example:
//
//   readbuf::AsyncScratchCopyReader reader(MyAsyncSpanReader(...));
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       co_await reader.read_owned(4096);   // nullopt = EOF

#ifndef READBUF_ADAPTERS_ASYNC_SCRATCH_COPY_READER_H_
#define READBUF_ADAPTERS_ASYNC_SCRATCH_COPY_READER_H_

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/read_steps.h"
#include "adapters/scratch_copy_reader.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "io/reader_concepts.h"
#include "io/task.h"

namespace readbuf {

// AsyncScratchCopyReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models AsyncSpanReader.
//
// Thread safety: as the inner reader; one read_owned() at a time per
// reader. Scratch buffers and blocks come from the thread the coroutine
// runs on (or the pool given).
template <class R>
  requires AsyncSpanReader<adapters_internal::Inner<R>>
class AsyncScratchCopyReader {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "AsyncScratchCopyReader";
  static constexpr std::string_view kHeader =
      "adapters/async_scratch_copy_reader.h";
  static constexpr std::string_view kFrom =
      "opaque async span reader `co_await read(span)`";
  static constexpr std::string_view kTo =
      "async OwnedReader `co_await read_owned(max)`";
  static constexpr int kCopies = 1;
  static constexpr bool kZeroes = true;
  static constexpr std::string_view kNote =
      "a pending read holds a per-thread 64 KiB scratch (zeroed once); the "
      "pool block is taken after the read, sized to the bytes, one memcpy";

  // `pool`: where blocks come from; nullptr (default) = the calling
  // thread's BufferPool::ForThisThread().
  explicit AsyncScratchCopyReader(R inner, BufferPool* pool = nullptr)
      : inner_(std::move(inner)), pool_(pool) {}

  InnerReader& inner() { return inner_.get(); }

  // Reads at most min(max, 64 KiB) bytes; nullopt = EOF.
  // Errors: the inner reader's, unchanged; ResourceExhausted from a capped
  // pool (the bytes read are then lost: the inner reader cannot un-read).
  Task<absl::StatusOr<std::optional<PoolBytes>>> read_owned(size_t max) {
    adapters_internal::ScratchLease lease;  // held while the read is pending
    const std::span<std::byte> scratch = lease.span().first(
        std::max<size_t>(1, std::min(max, lease.span().size())));
    absl::StatusOr<size_t> n = adapters_internal::CheckReported(
        co_await inner().read(scratch), scratch.size(), "read");
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return std::optional<PoolBytes>();
    co_return adapters_internal::CopyToPoolBlock(  // the block, only now
        pool_ != nullptr ? *pool_ : BufferPool::ForThisThread(),
        scratch.first(*n));
  }

  // The inner reader's own read(span), forwarded (no scratch, no copy).
  auto read(std::span<std::byte> s) { return inner().read(s); }

 private:
  adapters_internal::InnerHolder<R> inner_;
  BufferPool* pool_;
};

template <class R>
AsyncScratchCopyReader(R) -> AsyncScratchCopyReader<R>;
template <class R>
AsyncScratchCopyReader(R, BufferPool*) -> AsyncScratchCopyReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ASYNC_SCRATCH_COPY_READER_H_
