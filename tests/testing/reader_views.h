// -----------------------------------------------------------------------------
// File: tests/testing/reader_views.h
// -----------------------------------------------------------------------------
//
// Views that expose exactly one capability of a reader, so a test can force
// an adapter down one path: SpanView<R> (read only), ReadvView<R> (readv
// only), BufView<R> (read_buf only). They borrow the reader.

#ifndef READBUF_TESTS_TESTING_READER_VIEWS_H_
#define READBUF_TESTS_TESTING_READER_VIEWS_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>

#include "absl/status/statusor.h"
#include "buf/read_buf.h"

namespace readbuf::testing {

template <class R>
struct SpanView {
  R* r;
  absl::StatusOr<size_t> read(std::span<std::byte> s) { return r->read(s); }
};

template <class R>
struct ReadvView {
  R* r;
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    return r->readv(iov);
  }
};

template <class R>
struct BufView {
  R* r;
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    return r->read_buf(b);
  }
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_READER_VIEWS_H_
