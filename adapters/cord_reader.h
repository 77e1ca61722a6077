// -----------------------------------------------------------------------------
// File: adapters/cord_reader.h
// -----------------------------------------------------------------------------
//
// CordReader: an `absl::Cord` as a readbuf reader: read(span), read_buf(b)
// and readv(iovecs). Each call copies the next bytes out of the Cord's
// chunks into the caller's memory (only written, so read_buf and readv take
// uninitialized memory) and drops them from the front of the Cord it holds;
// the rest of the Cord is shared, not copied. EOF (0 bytes) when the Cord is
// used up. Never fails.
//
// Copies: 1 (Cord chunk -> caller's buffer). Zeroes: never.
//
// Example:
//
//   readbuf::CordReader reader(std::move(cord));
//   readbuf::Vectored<2> buf({16, 4096});
//   absl::StatusOr<size_t> n = reader.read_buf(buf);   // fills both segments

#ifndef READBUF_ADAPTERS_CORD_READER_H_
#define READBUF_ADAPTERS_CORD_READER_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"

namespace readbuf {

// CordReader
//
// Thread safety: distinct objects are safe (Cords share chunks safely); one
// object is not.
class CordReader {
 public:
  static constexpr std::string_view kName = "CordReader";
  static constexpr std::string_view kHeader = "adapters/cord_reader.h";
  static constexpr std::string_view kFrom = "`absl::Cord`";
  static constexpr std::string_view kTo = "`read`, `read_buf`, `readv`";
  static constexpr int kCopies = 1;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "copies chunk by chunk into the caller's memory; the rest stays shared";

  explicit CordReader(absl::Cord cord) : cord_(std::move(cord)) {}

  // Bytes not read yet.
  size_t remaining() const { return cord_.size(); }

  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    return CopyOut(UninitSpan(s.data(), s.size()));
  }

  // Fills b's free space across all its segments; advances b.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    size_t total = 0;
    for (;;) {
      UninitSpan dst = b.unfilled();
      if (dst.empty() || cord_.empty()) return total;
      const size_t n = CopyOut(dst);
      b.advance(n);
      total += n;
    }
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    size_t total = 0;
    for (const iovec& region : iov) {
      if (cord_.empty()) break;
      total += CopyOut(UninitSpan(region.iov_base, region.iov_len));
    }
    return total;
  }

 private:
  // Copies min(dst.size(), remaining()) bytes and drops them.
  size_t CopyOut(UninitSpan dst);

  absl::Cord cord_;
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_CORD_READER_H_
