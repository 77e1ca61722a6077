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
//
// The one-read steps built on these are in read_steps.h; the base that
// forwards an inner reader's capabilities is forwarding_reader.h.

#ifndef READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_
#define READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
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
  ABSL_ATTRIBUTE_ALWAYS_INLINE Inner<R>& get() {
    if constexpr (std::is_pointer_v<R>) {
      return *inner_;
    } else {
      return inner_;
    }
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE const Inner<R>& get() const {
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
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> CallReadBuf(R& r,
                                                                       B& b) {
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
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> CallTryRead(R& r,
                                                                       B& b) {
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
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t UnfilledIovecs(B& b,
                                                          std::span<iovec> out) {
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

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_ADAPTER_UTIL_H_
