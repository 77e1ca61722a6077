// -----------------------------------------------------------------------------
// File: adapters/internal/forwarding_reader.h
// -----------------------------------------------------------------------------
//
// ForwardingReader<R>: the base of the adapters in adapters/. It holds the
// inner reader (by value, or borrowed for R = T*) and forwards each
// synchronous capability of it -- read, read_buf, readv, try_read,
// read_owned -- exactly when the inner reader has that capability, so an
// adapter never loses one (the Tokio `is_write_vectored` lesson). An adapter
// declares only the members it converts; a member it declares hides the
// forwarded one of the same name. Not part of the public API.
//
// Example:
//
//   template <class R>
//   class MyAdapter : public adapters_internal::ForwardingReader<R> {
//    public:
//     explicit MyAdapter(R inner) : ForwardingReader<R>(std::move(inner)) {}
//     absl::StatusOr<size_t> read(std::span<std::byte> s);  // converted;
//   };                                     // readv, try_read... forwarded

#ifndef READBUF_ADAPTERS_INTERNAL_FORWARDING_READER_H_
#define READBUF_ADAPTERS_INTERNAL_FORWARDING_READER_H_

#include <sys/uio.h>

#include <cstddef>
#include <optional>
#include <span>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf::adapters_internal {

// ForwardingReader<R>
//
// Thread safety: as the inner reader. Copies made: none (each member passes
// its arguments straight on).
template <class R>
class ForwardingReader {
 public:
  using InnerReader = Inner<R>;

  explicit ForwardingReader(R inner) : inner_(std::move(inner)) {}

  ABSL_ATTRIBUTE_ALWAYS_INLINE InnerReader& inner() { return inner_.get(); }
  ABSL_ATTRIBUTE_ALWAYS_INLINE const InnerReader& inner() const {
    return inner_.get();
  }

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires SpanReader<InnerReader>
  {
    return inner().read(s);
  }
  template <ReadBuf B>
    requires BufReader<InnerReader>
  absl::StatusOr<size_t> read_buf(B& b) {
    return CallReadBuf(inner(), b);
  }
  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires VectoredReader<InnerReader>
  {
    return inner().readv(iov);
  }
  template <ReadBuf B>
    requires TryReader<InnerReader>
  absl::StatusOr<size_t> try_read(B& b) {
    return CallTryRead(inner(), b);
  }
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max)
    requires OwnedReader<InnerReader>
  {
    return inner().read_owned(max);
  }

 private:
  InnerHolder<R> inner_;
};

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_FORWARDING_READER_H_
