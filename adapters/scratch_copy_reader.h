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
// R must not keep the span after read() returns. Calls must not nest on one
// thread (R calling back into a ScratchCopyReader): that is a CHECK failure.
//
// Example:
//
//   readbuf::ScratchCopyReader reader(MyOpaqueReader(...));
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       reader.read_owned(4096);   // nullopt = EOF

#ifndef READBUF_ADAPTERS_SCRATCH_COPY_READER_H_
#define READBUF_ADAPTERS_SCRATCH_COPY_READER_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace adapters_internal {

// The calling thread's scratch buffer, lent for one read. Constructing a
// lease while another is alive on the same thread is a CHECK failure.
class ScratchLease {
 public:
  static constexpr size_t kScratchSize = 64 * 1024;

  ScratchLease();
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  // kScratchSize initialized bytes (zeroed when the thread first leased).
  std::span<std::byte> span() const { return span_; }

  // Bytes this thread's scratch zeroed so far (kScratchSize after the first
  // lease, never more): "zeroed once" for tests.
  static size_t ThreadZeroedBytes();

 private:
  std::span<std::byte> span_;
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
class ScratchCopyReader {
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
      : inner_(std::move(inner)), pool_(pool) {}

  InnerReader& inner() { return inner_.get(); }

  // Reads at most min(max, 64 KiB) bytes; nullopt = EOF.
  // Errors: the inner reader's, unchanged; ResourceExhausted from a capped
  // pool (the bytes read are then lost: the inner reader cannot un-read).
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    adapters_internal::ScratchLease lease;
    const std::span<std::byte> scratch = lease.span().first(
        std::max<size_t>(1, std::min(max, lease.span().size())));
    absl::StatusOr<size_t> n = adapters_internal::CheckReported(
        inner().read(scratch), scratch.size(), "read");
    if (!n.ok()) return n.status();
    if (*n == 0) return std::optional<PoolBytes>();
    BufferPool& pool = pool_ != nullptr ? *pool_ : BufferPool::ForThisThread();
    absl::StatusOr<PoolBlock> block = pool.Acquire(*n);
    if (!block.ok()) return block.status();
    std::memcpy(block->data(), scratch.data(), *n);  // the one copy
    return std::optional<PoolBytes>(PoolBytes(*std::move(block), *n));
  }

  // --- Forwarded capabilities of the inner reader ---

  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    return inner().read(s);
  }
  template <ReadBuf B>
    requires BufReader<InnerReader>
  absl::StatusOr<size_t> read_buf(B& b) {
    return adapters_internal::CallReadBuf(inner(), b);
  }
  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires VectoredReader<InnerReader>
  {
    return inner().readv(iov);
  }
  template <ReadBuf B>
    requires TryReader<InnerReader>
  absl::StatusOr<size_t> try_read(B& b) {
    return adapters_internal::CallTryRead(inner(), b);
  }

 private:
  adapters_internal::InnerHolder<R> inner_;
  BufferPool* pool_;
};

template <class R>
ScratchCopyReader(R) -> ScratchCopyReader<R>;
template <class R>
ScratchCopyReader(R, BufferPool*) -> ScratchCopyReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_SCRATCH_COPY_READER_H_
