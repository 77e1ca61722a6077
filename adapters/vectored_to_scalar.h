// -----------------------------------------------------------------------------
// File: adapters/vectored_to_scalar.h
// -----------------------------------------------------------------------------
//
// VectoredToScalarReader<R> serves vectored requests -- `readv(iovecs)` and
// `read_buf` on a Vectored<N> buffer -- from a scalar reader (one with
// `read(span)` or `read_buf(b)` but no readv). It does what a scalar reader
// can do in one call, and does it right: it reads into the *first non-empty*
// segment (std's `read_vectored` default; fastly/pushpin PR #48366 used the
// first segment even when it was empty and reported a spurious EOF). The
// caller sees a short read, as readv(2) may give, and calls again.
// When R has readv itself, the adapter forwards it.
//
// Copies: 0. Zeroes: a span-only inner reader may look at its span, so a raw
// iovec region (no watermark) is zeroed before each readv; read_buf zeroes a
// buffer's never-written bytes once. A BufReader inner reader: never.
//
// Every capability of R is forwarded by construction.
//
// Example:
//
//   readbuf::VectoredToScalarReader reader(MySpanReader(...));
//   iovec iov[2] = {{header, 0}, {body, 4096}};   // empty first segment
//   absl::StatusOr<size_t> n = reader.readv(iov); // reads into body

#ifndef READBUF_ADAPTERS_VECTORED_TO_SCALAR_H_
#define READBUF_ADAPTERS_VECTORED_TO_SCALAR_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"
#include "io/reader_concepts.h"

namespace readbuf {

// VectoredToScalarReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models SpanReader or BufReader.
//
// Thread safety: as the inner reader.
template <class R>
  requires SpanReader<adapters_internal::Inner<R>> ||
           BufReader<adapters_internal::Inner<R>>
class VectoredToScalarReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "VectoredToScalarReader";
  static constexpr std::string_view kHeader = "adapters/vectored_to_scalar.h";
  static constexpr std::string_view kFrom =
      "scalar reader `read(span)` / `read_buf(b)`";
  static constexpr std::string_view kTo =
      "VectoredReader `readv(iov)`, vectored `read_buf`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes =
      !BufReader<InnerReader> && !VectoredReader<InnerReader>;
  static constexpr std::string_view kNote =
      "one inner call into the first non-empty segment (the correct "
      "default); a span-only inner reader gets a raw iovec zeroed first";

  explicit VectoredToScalarReader(R inner)
      : adapters_internal::ForwardingReader<R>(std::move(inner)) {}

  // One read into the first non-empty region of `iov` (or the inner
  // readv). Returns the bytes written; 0 = EOF, or every region is empty.
  // The regions may be uninitialized: they are only written.
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    if constexpr (VectoredReader<InnerReader>) {
      return this->inner().readv(iov);
    } else {
      for (const iovec& region : iov) {
        if (region.iov_len == 0) continue;
        return adapters_internal::ReadIntoRegion(
            this->inner(), UninitSpan(region.iov_base, region.iov_len));
      }
      return 0;
    }
  }

  // One read into b: the inner read_buf if R has one, else the inner readv
  // over b's free segments, else the first non-empty segment (zeroed once).
  // Returns the bytes added; 0 = EOF, or b is full.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    return adapters_internal::FillOnce(this->inner(), b);
  }

  // read, try_read and read_owned: the inner reader's, forwarded.
};

template <class R>
VectoredToScalarReader(R) -> VectoredToScalarReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_VECTORED_TO_SCALAR_H_
