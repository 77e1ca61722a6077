// -----------------------------------------------------------------------------
// File: adapters/scalar_to_vectored.h
// -----------------------------------------------------------------------------
//
// ScalarToVectoredReader<R> fills a scatter request -- a Vectored<N> buffer
// or `readv(iovecs)` -- segment after segment, in order, in one call. When R
// has readv, that is one readv (the kernel's scatter); otherwise the adapter
// makes one scalar read per segment and moves on to the next segment only
// while each read filled its segment completely (a short read means the
// source has nothing more ready, so it stops there rather than block).
//
// Errors and would-block after some bytes were delivered: the call returns
// those bytes; an error is then returned by the next call (nothing is lost
// or reordered). A would-block there is not remembered: the next call
// simply asks again. Caveat for blocking sources: if the data ends exactly
// on a segment boundary, the read for the next segment waits for more data,
// as fread(3) does. For interactive sources, VectoredToScalarReader (one
// call, first non-empty segment) never waits twice.
//
// Copies: 0. Zeroes: with a span-only R, each segment's never-written bytes
// once (a raw iovec: before every read, having no watermark); otherwise
// never.
//
// Every capability of R is forwarded by construction.
//
// Example:
//
//   readbuf::ScalarToVectoredReader reader(MySpanReader(...));
//   readbuf::Vectored<2> buf({16, 4096});
//   absl::StatusOr<size_t> n = reader.read_buf(buf);  // header, then body

#ifndef READBUF_ADAPTERS_SCALAR_TO_VECTORED_H_
#define READBUF_ADAPTERS_SCALAR_TO_VECTORED_H_

#include <sys/uio.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"

namespace readbuf {

// ScalarToVectoredReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models SpanReader, BufReader or VectoredReader.
//
// Thread safety: as the inner reader.
template <class R>
  requires SpanReader<adapters_internal::Inner<R>> ||
           BufReader<adapters_internal::Inner<R>> ||
           VectoredReader<adapters_internal::Inner<R>>
class ScalarToVectoredReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "ScalarToVectoredReader";
  static constexpr std::string_view kHeader = "adapters/scalar_to_vectored.h";
  static constexpr std::string_view kFrom =
      "scalar reader `read(span)` / `read_buf(b)`";
  static constexpr std::string_view kTo =
      "vectored `read_buf` / `readv`, segments filled in order";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes =
      !BufReader<InnerReader> && !VectoredReader<InnerReader>;
  static constexpr std::string_view kNote =
      "one `readv` if the inner reader has it, else one read per segment "
      "until a short read";

  explicit ScalarToVectoredReader(R inner)
      : adapters_internal::ForwardingReader<R>(std::move(inner)) {}

  // Fills b's free segments in order (see the file comment) and advances
  // b. Returns the bytes added; 0 = EOF, or b is full.
  // Errors: the inner reader's, unchanged; deferred to the next call when
  // bytes were delivered first.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
    if constexpr (VectoredReader<InnerReader>) {
      return adapters_internal::ScatterInto(
          b, [this](std::span<const iovec> iov) { return this->inner().readv(iov); });
    } else {
      size_t total = 0;
      for (;;) {
        const size_t segment = b.unfilled().size();
        if (segment == 0) return total;
        absl::StatusOr<size_t> n =
            adapters_internal::ReadOnceInto(this->inner(), b);
        if (!n.ok()) return Deliver(total, n.status());
        total += *n;
        if (*n < segment) return total;  // short read or EOF: stop here
      }
    }
  }

  // Fills the regions of `iov` in order (see the file comment). The regions
  // may be uninitialized: they are only written (a span-only inner reader
  // gets each region zeroed first).
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
    if constexpr (VectoredReader<InnerReader>) {
      return this->inner().readv(iov);
    } else {
      size_t total = 0;
      for (const iovec& region : iov) {
        if (region.iov_len == 0) continue;
        absl::StatusOr<size_t> n = adapters_internal::ReadIntoRegion(
            this->inner(), UninitSpan(region.iov_base, region.iov_len));
        if (!n.ok()) return Deliver(total, n.status());
        total += *n;
        if (*n < region.iov_len) return total;
      }
      return total;
    }
  }

  // --- Forwarded capabilities of the inner reader, after a deferred error ---

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires SpanReader<InnerReader>
  {
    if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
    return this->inner().read(s);
  }
  template <ReadBuf B>
    requires TryReader<InnerReader>
  absl::StatusOr<size_t> try_read(B& b) {
    if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
    return adapters_internal::CallTryRead(this->inner(), b);
  }
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max)
    requires OwnedReader<InnerReader>
  {
    if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
    return this->inner().read_owned(max);
  }

 private:
  // `error` after `delivered` bytes: the bytes first, the error next time.
  absl::StatusOr<size_t> Deliver(size_t delivered, absl::Status error) {
    if (delivered == 0) return error;
    if (!IsWouldBlock(error)) pending_ = std::move(error);
    return delivered;
  }

  absl::Status pending_;
};

template <class R>
ScalarToVectoredReader(R) -> ScalarToVectoredReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_SCALAR_TO_VECTORED_H_
