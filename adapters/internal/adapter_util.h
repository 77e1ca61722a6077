// -----------------------------------------------------------------------------
// File: adapters/internal/adapter_util.h
// -----------------------------------------------------------------------------
//
// Pieces every adapter in adapters/ shares; not part of the public API.
//
//   Inner<R>, InnerHolder<R>  an adapter holds its inner reader by value
//                             (R = T) or borrows it (R = T*); Inner<R> is T.
//   CallReadBuf / CallTryRead call an inner read_buf / try_read with any
//                             ReadBuf, erasing it to a DynRef when the inner
//                             reader only takes that.
//   IsVectored / UnfilledIovecs
//                             the scatter view of any ReadBuf (a DynRef says
//                             at run time whether it is really vectored).
//   BufGuard                  the debug check around a call that fills a
//                             ReadBuf: ReadGuard's checks (same memory, same
//                             capacity, advanced by what was reported), also
//                             correct for an erased DynRef.

#ifndef READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_
#define READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "buf/borrowed_read_buf.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/internal/read_guard.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf::adapters_internal {

// The most iovecs an adapter hands to one readv (Asio's cap, well under
// IOV_MAX).
inline constexpr size_t kMaxIovecs = 64;

template <class R>
struct InnerOf {
  using type = R;
};
template <class R>
struct InnerOf<R*> {
  using type = R;
};

// The reader type an adapter over R talks to: T for R = T and R = T*.
template <class R>
using Inner = typename InnerOf<R>::type;

// Holds an inner reader by value (R = T) or by pointer (R = T*, borrowed:
// the reader must outlive the holder).
template <class R>
class InnerHolder {
 public:
  explicit InnerHolder(R inner) : inner_(std::move(inner)) {}
  Inner<R>& get() {
    if constexpr (std::is_pointer_v<R>) {
      return *inner_;
    } else {
      return inner_;
    }
  }
  const Inner<R>& get() const {
    if constexpr (std::is_pointer_v<R>) {
      return *inner_;
    } else {
      return inner_;
    }
  }

 private:
  R inner_;
};

// r.read_buf(b), erasing b to a DynRef if R's read_buf does not take B.
template <class R, ReadBuf B>
  requires BufReader<R>
absl::StatusOr<size_t> CallReadBuf(R& r, B& b) {
  if constexpr (requires { r.read_buf(b); }) {
    return r.read_buf(b);
  } else {
    DynRef erased(b);
    return r.read_buf(erased);
  }
}

// r.try_read(b), erasing b to a DynRef if R's try_read does not take B.
template <class R, ReadBuf B>
  requires TryReader<R>
absl::StatusOr<size_t> CallTryRead(R& r, B& b) {
  if constexpr (requires { r.try_read(b); }) {
    return r.try_read(b);
  } else {
    DynRef erased(b);
    return r.try_read(erased);
  }
}

// True when b scatters over several segments (so readv is the way to fill
// it). An erased DynRef answers at run time.
template <ReadBuf B>
bool IsVectored(const B& b) {
  if constexpr (requires { b.capabilities(); }) {
    return (b.capabilities() & kReadBufVectored) != 0;
  } else {
    return VectoredReadBuf<B>;
  }
}

// Writes b's free regions, in fill order, into `out`; returns how many. A
// contiguous buffer gives (at most) one.
template <ReadBuf B>
size_t UnfilledIovecs(B& b, std::span<iovec> out) {
  if constexpr (VectoredReadBuf<B>) {
    return b.unfilled_iovecs(out);
  } else {
    UninitSpan u = b.unfilled();
    if (u.empty() || out.empty()) return 0;
    out[0] = u.as_iovec();
    return 1;
  }
}

inline size_t TotalSize(std::span<const iovec> iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

// The result of an inner read that was given `offered` bytes: over-reporting
// is a contract violation (CHECKed in debug builds, an Internal error in
// release builds, so no byte past the region is ever claimed).
inline absl::StatusOr<size_t> CheckReported(absl::StatusOr<size_t> n,
                                            size_t offered,
                                            const char* operation) {
  if (!n.ok()) return n;
  READBUF_DCHECK(*n <= offered,
                 "inner reader's %s reported %zu bytes for a %zu-byte region",
                 operation, *n, offered);
  if (*n > offered) {
    return absl::InternalError("inner reader reported more bytes than offered");
  }
  return n;
}

// One read from a scalar reader (read_buf preferred, else read(span)) into
// b's unfilled region -- the first non-empty segment of a vectored buffer,
// or the inner reader's choice for read_buf -- and b.advance(). A span reader
// gets the region after initialize_unfilled(): zeroed once per buffer.
template <class R, ReadBuf B>
  requires BufReader<R> || SpanReader<R>
absl::StatusOr<size_t> ReadOnceInto(R& r, B& b) {
  if constexpr (BufReader<R>) {
    if (b.unfilled().empty()) return 0;
    buf_internal::ReadGuard<B> guard(b);
    absl::StatusOr<size_t> n = CallReadBuf(r, b);
    if (n.ok()) guard.Verify(*n);
    return n;
  } else {
    std::span<std::byte> dst = b.initialize_unfilled();
    if (dst.empty()) return 0;
    absl::StatusOr<size_t> n = CheckReported(r.read(dst), dst.size(), "read");
    if (n.ok()) b.advance(*n);
    return n;
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
    buf_internal::ReadGuard<BorrowedReadBuf> guard(b);
    absl::StatusOr<size_t> n = CallReadBuf(r, b);
    if (n.ok()) guard.Verify(*n);
    return n;
  } else {
    return CheckReported(r.read(region.zero()), region.size(), "read");
  }
}

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_
