// -----------------------------------------------------------------------------
// File: io/writer_concepts.h
// -----------------------------------------------------------------------------
//
// The write side, symmetric to io/reader_concepts.h:
//
//   concept          | expression                     | result
//   -----------------+--------------------------------+---------------------------
//   SpanWriter       | w.write(std::span<const byte>) | StatusOr<size_t>: bytes taken
//                    |                                | (may be short)
//   VectoredWriter   | w.writev(std::span<const       | StatusOr<size_t>: bytes taken
//                    |   iovec>)                      | from the iovecs in order
//
// Async writers have the same members returning awaitables. write_all() and
// writev_all() loop over short writes. `is_write_vectored_v<W>` is the
// "is vectored" query; wrappers forward it by modelling VectoredWriter
// exactly when their inner writer does.

#ifndef READBUF_IO_WRITER_CONCEPTS_H_
#define READBUF_IO_WRITER_CONCEPTS_H_

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/internal/consume_iovecs.h"
#include "io/reader_concepts.h"

namespace readbuf {

template <class W>
concept SpanWriter = requires(W& w, std::span<const std::byte> s) {
  { w.write(s) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class W>
concept VectoredWriter = requires(W& w, std::span<const iovec> iov) {
  { w.writev(iov) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class W>
concept AsyncSpanWriter = requires(W& w, std::span<const std::byte> s) {
  { w.write(s) } -> AwaitableOf<absl::StatusOr<size_t>>;
};

template <class W>
concept AsyncVectoredWriter = requires(W& w, std::span<const iovec> iov) {
  { w.writev(iov) } -> AwaitableOf<absl::StatusOr<size_t>>;
};

template <class W>
inline constexpr bool is_write_vectored_v =
    VectoredWriter<W> || AsyncVectoredWriter<W>;

// Writes all of `data`, looping over short writes.
// Errors: the writer's; a writer that takes 0 bytes of a non-empty request
// gives an Internal error rather than a loop that never ends.
template <SpanWriter W>
absl::Status write_all(W& writer, std::span<const std::byte> data) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = writer.write(data);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::InternalError("write_all: writer accepted 0 bytes");
    data = data.subspan(std::min(*n, data.size()));
  }
  return absl::OkStatus();
}

// Writes every byte of the iovecs in order, looping over short writes. Uses
// writev when W has it, else one write() per region. `iov` is not modified.
template <class W>
  requires SpanWriter<W> || VectoredWriter<W>
absl::Status writev_all(W& writer, std::span<const iovec> iov) {
  if constexpr (VectoredWriter<W>) {
    constexpr size_t kBatch = 64;
    std::array<iovec, kBatch> pending;
    size_t next = 0;   // first iovec of `iov` not yet copied into `pending`
    size_t count = 0;  // live entries in pending
    for (;;) {
      while (count < kBatch && next < iov.size()) pending[count++] = iov[next++];
      size_t first = 0;
      while (first < count && pending[first].iov_len == 0) ++first;
      if (first == count && next == iov.size()) return absl::OkStatus();
      if (first == count) {
        count = 0;
        continue;
      }
      absl::StatusOr<size_t> n =
          writer.writev(std::span<const iovec>(pending.data() + first, count - first));
      if (!n.ok()) return n.status();
      if (*n == 0) return absl::InternalError("writev_all: writer accepted 0 bytes");
      const size_t i = first + io_internal::ConsumeIovecs(
                                   std::span<iovec>(pending.data() + first, count - first), *n);
      // Drop the finished iovecs from the front.
      std::copy(pending.begin() + i, pending.begin() + count, pending.begin());
      count -= i;
    }
  } else {
    for (const iovec& region : iov) {
      absl::Status s = write_all(
          writer, std::span<const std::byte>(
                      static_cast<const std::byte*>(region.iov_base), region.iov_len));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
}

}  // namespace readbuf

#endif  // READBUF_IO_WRITER_CONCEPTS_H_
