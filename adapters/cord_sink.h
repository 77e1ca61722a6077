// -----------------------------------------------------------------------------
// File: adapters/cord_sink.h
// -----------------------------------------------------------------------------
//
// Reading into an `absl::Cord` without copying: pool blocks become the Cord's
// memory. PoolBytesToCord() hands a PoolBytes to absl::MakeCordFromExternal;
// the releaser owns the block, and the block goes back to its pool when the
// last Cord sharing it is destroyed (on any thread: PoolBlock release is
// thread-safe). CordSink<R> reads from an OwnedReader -- e.g.
// BufToOwnedReader over an fd, which reads straight into a pool block -- and
// appends each result to a Cord that way: bytes go kernel -> pool block ->
// Cord with no memcpy. (A `Pooled` buffer's `take_filled()` gives PoolBytes
// too.)
//
// Copies: 0. Zeroes: never. Each appended piece costs a Cord external node,
// and keeps its whole pool block alive while the Cord shares it.
//
// Example:
//
//   readbuf::CordSink sink(readbuf::BufToOwnedReader(readbuf::FdReader(fd)));
//   absl::StatusOr<absl::Cord> body = sink.read_all(16 * 1024);

#ifndef READBUF_ADAPTERS_CORD_SINK_H_
#define READBUF_ADAPTERS_CORD_SINK_H_

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "adapters/internal/adapter_util.h"
#include "buf/pool_bytes.h"
#include "io/reader_concepts.h"

namespace readbuf {

// A Cord whose memory is `bytes`' pool block (no copy). Empty bytes give an
// empty Cord (and the block goes back at once).
inline absl::Cord PoolBytesToCord(PoolBytes bytes) {
  const absl::string_view view(reinterpret_cast<const char*>(bytes.data()),
                               bytes.size());
  return absl::MakeCordFromExternal(
      view, [owned = std::move(bytes)](absl::string_view) {});
}

// CordSink<R>
//
// R is the reader (by value), or T* to borrow one. REQUIRES: Inner<R>
// models OwnedReader.
//
// Thread safety: as the reader; the Cords it produces follow Cord's rules.
template <class R>
  requires OwnedReader<adapters_internal::Inner<R>>
class CordSink {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "CordSink";
  static constexpr std::string_view kHeader = "adapters/cord_sink.h";
  static constexpr std::string_view kFrom = "OwnedReader `read_owned(max)`";
  static constexpr std::string_view kTo = "`absl::Cord` (appended)";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "`PoolBytes` handed to `absl::MakeCordFromExternal`; the block returns "
      "to its pool with the last Cord";

  explicit CordSink(R reader) : reader_(std::move(reader)) {}

  InnerReader& inner() { return reader_.get(); }

  // Reads once (at most `max` bytes) and appends to `out`. Returns the bytes
  // appended; 0 = EOF.
  // Errors: the reader's, unchanged (`out` keeps what was appended before).
  absl::StatusOr<size_t> append_to(absl::Cord& out, size_t max) {
    absl::StatusOr<std::optional<PoolBytes>> next = inner().read_owned(max);
    if (!next.ok()) return next.status();
    if (!next->has_value()) return 0;
    const size_t n = (*next)->size();
    out.Append(PoolBytesToCord(std::move(**next)));
    return n;
  }

  // Reads to EOF, `max_per_read` bytes at most per read.
  // Errors: the reader's first error (what was read before it is dropped);
  // a would-block from a non-blocking reader is returned as is.
  absl::StatusOr<absl::Cord> read_all(size_t max_per_read) {
    absl::Cord out;
    for (;;) {
      absl::StatusOr<size_t> n = append_to(out, max_per_read);
      if (!n.ok()) return n.status();
      if (*n == 0) return out;
    }
  }

 private:
  adapters_internal::InnerHolder<R> reader_;
};

template <class R>
CordSink(R) -> CordSink<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_CORD_SINK_H_
