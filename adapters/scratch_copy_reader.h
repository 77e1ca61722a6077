// -----------------------------------------------------------------------------
// File: adapters/scratch_copy_reader.h
// -----------------------------------------------------------------------------
//
// ScratchCopyReader<R> gives an opaque `span<byte>` reader -- one that cannot
// say "ready" apart from "read", so a buffer must exist before it is called
// -- owned, pooled output without making every connection hold a buffer
// (async_io_bufpool's approach). Each call reads into the calling thread's
// scratch buffer (64 KiB, zeroed once when the thread first uses it, shared
// by every connection on the thread), then copies exactly the bytes read into
// a pool block of that size and returns it as PoolBytes. An idle connection
// holds nothing; the price is the copy, stated here and in kCopies. Prefer a
// reader with try_read or read_buf (BufToOwnedReader, no copy) when you have
// one.
//
// Copies: 1 (scratch -> pool block). Zeroes: the scratch, once per thread.
//
// Contract for R (a C++ port must say what Rust's borrow rules enforce):
// R must not keep the span after read() returns. A call that nests on one
// thread (R calling back into a ScratchCopyReader) gets a scratch of its own.
// The async form, for `co_await r.read(span)` readers, is
// adapters/async_scratch_copy_reader.h.
//
// Example:
//
//   readbuf::ScratchCopyReader reader(MyOpaqueReader(...));
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       reader.read_owned(4096);   // nullopt = EOF

#ifndef READBUF_ADAPTERS_SCRATCH_COPY_READER_H_
#define READBUF_ADAPTERS_SCRATCH_COPY_READER_H_

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace adapters_internal {

// A scratch buffer of the calling thread, lent for one read. Each thread
// keeps its scratch buffers in a free list: a lease takes one (allocating
// and zeroing a new one only when all are lent out), and gives it back when
// it ends. A synchronous reader uses one per thread; a suspended async read
// keeps its own until it completes, so two pending reads never share one.
// At most kKeptIdle buffers stay in the list; more are freed when returned.
//
// Thread safety: a lease ends on the thread that took it (coroutines never
// migrate between cores); one that ends on another thread frees its buffer
// instead of touching the first thread's list.
class ScratchLease {
 public:
  static constexpr size_t kScratchSize = 64 * 1024;
  static constexpr size_t kKeptIdle = 4;

  ScratchLease();
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  // kScratchSize initialized bytes (zeroed once, when the buffer was made).
  std::span<std::byte> span() const { return {memory_, kScratchSize}; }

  // Bytes this thread's scratch buffers were zeroed with so far: a multiple
  // of kScratchSize, one per buffer ever made ("zeroed once", for tests).
  static size_t ThreadZeroedBytes();
  // Buffers of this thread lent out now.
  static size_t ThreadLeased();

 private:
  std::byte* memory_;
  void* owner_;  // the lending thread's list; compared, never dereferenced
                 // from another thread
};

}  // namespace adapters_internal

// ScratchCopyReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models SpanReader.
//
// Thread safety: as the inner reader; the scratch is the calling thread's,
// blocks come from the calling thread's BufferPool (or the one given).
template <class R>
  requires SpanReader<adapters_internal::Inner<R>>
class ScratchCopyReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "ScratchCopyReader";
  static constexpr std::string_view kHeader = "adapters/scratch_copy_reader.h";
  static constexpr std::string_view kFrom =
      "opaque span reader (no readiness split)";
  static constexpr std::string_view kTo = "OwnedReader `read_owned(max)`";
  static constexpr int kCopies = 1;
  static constexpr bool kZeroes = true;
  static constexpr std::string_view kNote =
      "per-thread 64 KiB scratch (zeroed once per thread), then one memcpy "
      "into a pool block of exactly the size read";

  // `pool`: where blocks come from; nullptr (default) = the calling
  // thread's BufferPool::ForThisThread().
  explicit ScratchCopyReader(R inner, BufferPool* pool = nullptr)
      : adapters_internal::ForwardingReader<R>(std::move(inner)), pool_(pool) {}

  // Reads at most min(max, 64 KiB) bytes; nullopt = EOF.
  // Errors: the inner reader's, unchanged; ResourceExhausted from a capped
  // pool (the bytes read are then lost: the inner reader cannot un-read).
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    adapters_internal::ScratchLease lease;
    const std::span<std::byte> scratch = lease.span().first(
        std::max<size_t>(1, std::min(max, lease.span().size())));
    absl::StatusOr<size_t> n = adapters_internal::CheckReported(
        this->inner().read(scratch), scratch.size(), "read");
    if (!n.ok()) return n.status();
    if (*n == 0) return std::optional<PoolBytes>();
    return adapters_internal::CopyToPoolBlock(
        pool_ != nullptr ? *pool_ : BufferPool::ForThisThread(),
        scratch.first(*n));
  }

  // read, read_buf, readv and try_read: the inner reader's, forwarded.

 private:
  BufferPool* pool_;
};

template <class R>
ScratchCopyReader(R) -> ScratchCopyReader<R>;
template <class R>
ScratchCopyReader(R, BufferPool*) -> ScratchCopyReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_SCRATCH_COPY_READER_H_
