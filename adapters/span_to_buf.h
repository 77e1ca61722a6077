// -----------------------------------------------------------------------------
// File: adapters/span_to_buf.h
// -----------------------------------------------------------------------------
//
// SpanToBufReader<R> lets a `span<byte>` reader (POSIX-style `read(span)`,
// io/reader_concepts.h SpanReader) fill any ReadBuf policy: it models
// BufReader. A span reader may look at the bytes it is given, so the adapter
// hands it initialized memory: `initialize_unfilled()` zeroes only the part of
// the buffer never written before, once; the buffer's watermark remembers, so
// reading again into a reused buffer zeroes nothing (tokio-util `compat`; the
// Rust PR #150096 lesson). When the inner reader can fill the buffer without
// looking at it (it has `read_buf`, or `readv`, whose iovecs are write-only
// like readv(2)), the adapter uses that and zeroes nothing.
//
// Copies: 0 (the inner reader writes straight into the caller's buffer).
// Zeroes: each byte at most once per buffer, and only when the inner reader
// has neither read_buf nor readv.
//
// Capabilities of the inner reader (read, readv, try_read, read_owned) are
// forwarded by construction: the adapter has each member exactly when R has
// it, so wrapping never loses vectored I/O.
//
// Example:
//
//   readbuf::SpanToBufReader reader(MySpanReader(...));   // or (&borrowed)
//   readbuf::Uninit buf(64 * 1024);
//   absl::StatusOr<size_t> n = reader.read_buf(buf);      // 0 = EOF
//   buf.clear();
//   n = reader.read_buf(buf);                             // zeroes nothing

#ifndef READBUF_ADAPTERS_SPAN_TO_BUF_H_
#define READBUF_ADAPTERS_SPAN_TO_BUF_H_

#include <cstddef>
#include <string_view>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf {

// SpanToBufReader<R>
//
// R is the inner reader (held by value), or T* to borrow one (it must then
// outlive the adapter). REQUIRES: Inner<R> models SpanReader.
//
// Thread safety: as the inner reader (one thread at a time).
template <class R>
  requires SpanReader<adapters_internal::Inner<R>>
class SpanToBufReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "SpanToBufReader";
  static constexpr std::string_view kHeader = "adapters/span_to_buf.h";
  static constexpr std::string_view kFrom = "span reader `read(span)`";
  static constexpr std::string_view kTo = "BufReader `read_buf(b)`, any policy";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes =
      !BufReader<InnerReader> && !VectoredReader<InnerReader>;
  static constexpr std::string_view kNote =
      "zeroes only never-written bytes, once (watermark); none if the inner "
      "reader has `read_buf` or `readv`";

  explicit SpanToBufReader(R inner)
      : adapters_internal::ForwardingReader<R>(std::move(inner)) {}

  // Reads once into b's unfilled region (a vectored buffer: all its free
  // segments when the inner reader has readv, else the first non-empty one)
  // and advances b. Returns the bytes added; 0 = EOF, or b had no unfilled
  // space (nothing is read then).
  // REQUIRES: a deferring buffer (Pooled) was prepare()d by the caller, as
  // the io layer does after readiness.
  // Errors: the inner reader's, unchanged.
  template <ReadBuf B>
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<size_t> read_buf(B& b) {
    return adapters_internal::FillOnce(this->inner(), b);
  }

  // read, readv, try_read and read_owned: the inner reader's, forwarded.
};

template <class R>
SpanToBufReader(R) -> SpanToBufReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_SPAN_TO_BUF_H_
