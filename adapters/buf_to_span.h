// -----------------------------------------------------------------------------
// File: adapters/buf_to_span.h
// -----------------------------------------------------------------------------
//
// BufToSpanReader<R> lets a ReadBuf reader (`read_buf(b)`, BufReader) serve a
// caller that has a plain `span<byte>`: it models SpanReader. The caller's
// span is wrapped in a BorrowedReadBuf (all of it counts as initialized, so
// nothing is zeroed) and the inner reader writes straight into it. In debug
// builds the call is guarded: an inner reader that swaps or resizes the
// buffer, or reports a count other than what it advanced, is a CHECK failure
// (tokio #2827).
//
// Copies: 0. Zeroes: never.
//
// The inner reader's other capabilities (read_buf, readv, try_read,
// read_owned) are forwarded by construction.
//
// Example:
//
//   readbuf::BufToSpanReader reader(MyBufReader(...));
//   std::array<std::byte, 512> storage;
//   absl::StatusOr<size_t> n = reader.read(storage);   // 0 = EOF

#ifndef READBUF_ADAPTERS_BUF_TO_SPAN_H_
#define READBUF_ADAPTERS_BUF_TO_SPAN_H_

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/borrowed_read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf {

// BufToSpanReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models BufReader.
//
// Thread safety: as the inner reader.
template <class R>
  requires BufReader<adapters_internal::Inner<R>>
class BufToSpanReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "BufToSpanReader";
  static constexpr std::string_view kHeader = "adapters/buf_to_span.h";
  static constexpr std::string_view kFrom = "BufReader `read_buf(b)`";
  static constexpr std::string_view kTo = "span reader `read(span)`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "the caller's span becomes a `BorrowedReadBuf`; debug builds catch a "
      "swapped buffer or a wrong count";

  explicit BufToSpanReader(R inner)
      : adapters_internal::ForwardingReader<R>(std::move(inner)) {}

  // Reads once into the front of `s`. Returns the bytes written; 0 = EOF
  // (or `s` is empty).
  // Errors: the inner reader's, unchanged.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<size_t> read(
      std::span<std::byte> s) {
    if (s.empty()) return 0;
    BorrowedReadBuf b(s);
    return adapters_internal::FillOnce(this->inner(), b);
  }

  // read_buf, readv, try_read and read_owned: the inner reader's, forwarded.
};

template <class R>
BufToSpanReader(R) -> BufToSpanReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_BUF_TO_SPAN_H_
