// -----------------------------------------------------------------------------
// File: adapters/internal/read_steps.h
// -----------------------------------------------------------------------------
//
// The one-read steps every adapter is built from, written once: each makes
// ONE call into an inner reader and keeps the ReadBuf contract (debug-checked
// counts, zeroing at most once, no byte claimed past the region offered).
// Not part of the public API.
//
//   step                       | the inner call gets        | zeroes        | advances
//   ---------------------------+----------------------------+---------------+---------
//   GuardedReadBuf(b, f)       | b itself: f(b) fills and   | as f does     | f does
//                              | advances it (ReadGuard)    |               |
//   ScatterInto(b, f)          | b's free segments, f(iov)  | never         | here
//   ZeroOnceInto(b, f)         | b.initialize_unfilled(),   | never-written | here
//                              | f(span)                    | bytes, once   |
//   FillOnce(r, b)             | r's best: read_buf > readv > read(span)    | here/r
//   ReadOnceInto(r, b)         | read_buf > read(span): the first non-empty segment
//   ReadIntoRegion(r, region)  | a raw, maybe uninitialized region (no watermark:
//                              | a span reader gets it zeroed, every call)
//   FillPoolBlock(pool, n, f)  | a fresh pool block of n bytes as a BorrowedReadBuf;
//                              | the block is handed out as PoolBytes (no copy)
//   CopyToPoolBlock(pool, s)   | none: one memcpy of s into a block of exactly s.size()
//
// `f` returns absl::StatusOr<size_t>, the bytes it wrote. Errors pass through
// unchanged. A count larger than the region offered is a contract violation
// (CheckReported: a CHECK in debug builds, an Internal error in release).
//
// The steps are always inlined: they are the adapters' whole per-call cost,
// and the build's -O level must not decide whether a bridge costs a call.

#ifndef READBUF_ADAPTERS_INTERNAL_READ_STEPS_H_
#define READBUF_ADAPTERS_INTERNAL_READ_STEPS_H_

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "buf/borrowed_read_buf.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/internal/read_guard.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"
#include "io/reader_concepts.h"

namespace readbuf::adapters_internal {

// The result of an inner read that was given `offered` bytes: over-reporting
// is a contract violation (CHECKed in debug builds, an Internal error in
// release builds, so no byte past the region is ever claimed).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> CheckReported(
    absl::StatusOr<size_t> n, size_t offered, const char* operation) {
  if (n.ok()) {
    READBUF_DCHECK(*n <= offered,
                   "inner reader's %s reported %zu bytes for a %zu-byte region",
                   operation, *n, offered);
    if (ABSL_PREDICT_FALSE(*n > offered)) {
      return absl::InternalError("inner reader reported more bytes than offered");
    }
  }
  return n;
}

// f(b) fills b and advances it itself (a read_buf / try_read); debug builds
// check that it kept b's memory and advanced exactly what it reported.
template <ReadBuf B, class F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> GuardedReadBuf(
    B& b, F&& f) {
  buf_internal::ReadGuard<B> guard(b);
  absl::StatusOr<size_t> n = std::forward<F>(f)(b);
  if (n.ok()) guard.Verify(*n);
  return n;
}

// f(iovecs) scatters into b's free segments (written, never read: they may
// be uninitialized); b is advanced by the count. 0 without a call when b is
// full.
template <ReadBuf B, class F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> ScatterInto(B& b,
                                                                       F&& f) {
  std::array<iovec, kMaxIovecs> iov;
  const size_t count = UnfilledIovecs(b, iov);
  if (count == 0) return 0;
  const std::span<const iovec> regions(iov.data(), count);
  absl::StatusOr<size_t> n =
      CheckReported(std::forward<F>(f)(regions), TotalSize(regions), "readv");
  if (n.ok()) b.advance(*n);
  return n;
}

// f(span) reads into b's unfilled region (a vectored b: its first non-empty
// segment) made initialized first: only never-written bytes are zeroed, once
// per buffer (the watermark). b is advanced by the count. 0 without a call
// when b is full.
template <ReadBuf B, class F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> ZeroOnceInto(B& b,
                                                                        F&& f) {
  const std::span<std::byte> dst = b.initialize_unfilled();
  if (dst.empty()) return 0;
  absl::StatusOr<size_t> n =
      CheckReported(std::forward<F>(f)(dst), dst.size(), "read");
  if (n.ok()) b.advance(*n);
  return n;
}

// One read from r into b with the best capability r has: read_buf (r fills
// b itself), else readv over b's free segments, else read(span) into the
// zeroed-once unfilled region. Returns the bytes added; 0 = EOF, or b is
// full (then r is not called).
template <class R, ReadBuf B>
  requires BufReader<R> || VectoredReader<R> || SpanReader<R>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> FillOnce(R& r,
                                                                    B& b) {
  if constexpr (BufReader<R>) {
    if (b.unfilled().empty()) return 0;
    return GuardedReadBuf(b, [&r](B& x) { return CallReadBuf(r, x); });
  } else if constexpr (VectoredReader<R>) {
    return ScatterInto(b, [&r](std::span<const iovec> iov) { return r.readv(iov); });
  } else {
    return ZeroOnceInto(b, [&r](std::span<std::byte> s) { return r.read(s); });
  }
}

// One read from a scalar reader (read_buf preferred, else read(span)) into
// b's unfilled region -- the inner reader's choice for read_buf, else the
// first non-empty segment -- never readv, even if r has it.
template <class R, ReadBuf B>
  requires BufReader<R> || SpanReader<R>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> ReadOnceInto(
    R& r, B& b) {
  if constexpr (BufReader<R>) {
    return FillOnce(r, b);
  } else {
    return ZeroOnceInto(b, [&r](std::span<std::byte> s) { return r.read(s); });
  }
}

// One read from a scalar reader into a raw region that may be uninitialized
// (an iovec). A BufReader writes into it through a BorrowedReadBuf (no
// zeroing); a span reader may look at its span, and a raw region has no
// watermark, so the region is zeroed first, on every call.
template <class R>
  requires BufReader<R> || SpanReader<R>
absl::StatusOr<size_t> ReadIntoRegion(R& r, UninitSpan region) {
  if (region.empty()) return 0;
  if constexpr (BufReader<R>) {
    BorrowedReadBuf b(region);
    return GuardedReadBuf(b, [&r](BorrowedReadBuf& x) { return CallReadBuf(r, x); });
  } else {
    return CheckReported(r.read(region.zero()), region.size(), "read");
  }
}

// Takes a block of `size` bytes (>= 1) from `pool` and lets f fill it in
// place through a BorrowedReadBuf over its uninitialized memory (f(buf) ->
// StatusOr<size_t>, advancing buf as a read_buf does). Returns the block as
// PoolBytes of the bytes read; nullopt = EOF (0 bytes). On an error or EOF
// the block goes straight back to the pool.
// Errors: f's, unchanged; ResourceExhausted from a capped pool.
template <class F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<std::optional<PoolBytes>>
FillPoolBlock(BufferPool& pool, size_t size, F&& f) {
  absl::StatusOr<PoolBlock> block = pool.Acquire(size);
  if (!block.ok()) return block.status();
  BorrowedReadBuf buf(UninitSpan(block->data(), size));
  absl::StatusOr<size_t> n = GuardedReadBuf(buf, std::forward<F>(f));
  if (!n.ok()) return n.status();
  if (*n == 0) return std::optional<PoolBytes>();
  return std::optional<PoolBytes>(std::in_place, *std::move(block), *n);
}

// One memcpy of `bytes` into a block of exactly bytes.size() from `pool`:
// the copy of the scratch-plus-copy adapters.
// REQUIRES: !bytes.empty().
// Errors: ResourceExhausted from a capped pool.
inline absl::StatusOr<std::optional<PoolBytes>> CopyToPoolBlock(
    BufferPool& pool, std::span<const std::byte> bytes) {
  absl::StatusOr<PoolBlock> block = pool.Acquire(bytes.size());
  if (!block.ok()) return block.status();
  std::memcpy(block->data(), bytes.data(), bytes.size());  // the one copy
  return std::optional<PoolBytes>(std::in_place, *std::move(block), bytes.size());
}

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_READ_STEPS_H_
