// -----------------------------------------------------------------------------
// File: adapters/owned_to_buf.h
// -----------------------------------------------------------------------------
//
// OwnedToBufReader<R> lets a reader that hands out memory it allocated itself
// (`read_owned(max)` -> PoolBytes, OwnedReader: an io_uring provided-buffer
// ring, a pooled_read) fill a caller's buffer: it models BufReader and
// SpanReader. The bytes cannot be written in place, so they are copied:
// one memcpy per byte, as folly's AsyncIoUringSocket does for a callback that
// cannot take a moved buffer (`ReadSqe::sendReadBuf`). It asks the inner
// reader for at most the caller's free space, so normally nothing is left
// over; should the inner reader return more, the rest is kept and delivered
// first by the next call, whichever member it is.
//
// Copies: 1 (owned block -> caller's buffer). Zeroes: never.
//
// Example:
//
//   readbuf::OwnedToBufReader reader(MyProvidedBufferReader(...));
//   readbuf::Vectored<4> buf(64 * 1024);
//   absl::StatusOr<size_t> n = reader.read_buf(buf);   // copied in, 0 = EOF

#ifndef READBUF_ADAPTERS_OWNED_TO_BUF_H_
#define READBUF_ADAPTERS_OWNED_TO_BUF_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf {

// OwnedToBufReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models OwnedReader.
//
// Thread safety: as the inner reader.
template <class R>
  requires OwnedReader<adapters_internal::Inner<R>>
class OwnedToBufReader {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "OwnedToBufReader";
  static constexpr std::string_view kHeader = "adapters/owned_to_buf.h";
  static constexpr std::string_view kFrom = "OwnedReader `read_owned(max)`";
  static constexpr std::string_view kTo =
      "BufReader `read_buf(b)` / span reader `read(span)`";
  static constexpr int kCopies = 1;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "one memcpy from the reader's block into the caller's buffer";

  explicit OwnedToBufReader(R inner) : inner_(std::move(inner)) {}

  InnerReader& inner() { return inner_.get(); }

  // Copies the next bytes into b (across segments) and advances b. Returns
  // the bytes added; 0 = EOF, or b is full.
  // Errors: the inner reader's, unchanged.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    const size_t space = remaining(b);
    if (space == 0) return 0;
    absl::Status s = Refill(space);
    if (!s.ok()) return s;
    const size_t n = append(b, held_.span());  // the one copy
    held_.RemovePrefix(n);
    return n;
  }

  // Copies the next bytes into the front of `s`. Returns the bytes written;
  // 0 = EOF (or `s` is empty).
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    if (s.empty()) return 0;
    absl::Status status = Refill(s.size());
    if (!status.ok()) return status;
    const size_t n = std::min(s.size(), held_.size());
    if (n != 0) std::memcpy(s.data(), held_.data(), n);  // the one copy
    held_.RemovePrefix(n);
    return n;
  }

  // Copies the next bytes over the regions of `iov`, in order. The regions
  // are only written.
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    const size_t space = adapters_internal::TotalSize(iov);
    if (space == 0) return 0;
    absl::Status status = Refill(space);
    if (!status.ok()) return status;
    size_t copied = 0;
    for (const iovec& region : iov) {
      const size_t n = std::min(region.iov_len, held_.size() - copied);
      if (n != 0) std::memcpy(region.iov_base, held_.data() + copied, n);
      copied += n;
    }
    held_.RemovePrefix(copied);
    return copied;
  }

  // --- Forwarded capability of the inner reader (zero-copy) ---

  // The held remainder first (if any), else the inner reader's read_owned,
  // handed on without a copy. Bytes beyond `max` (only from an inner reader
  // that returned more than asked) are split by copying its first `max` bytes into a new block
  // from BufferPool::ForThisThread().
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    absl::Status status = Refill(max);
    if (!status.ok()) return status;
    if (held_.empty()) return std::optional<PoolBytes>();  // EOF
    if (held_.size() <= max) return std::optional<PoolBytes>(std::move(held_));
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(max);
    if (!block.ok()) return block.status();
    std::memcpy(block->data(), held_.data(), max);
    held_.RemovePrefix(max);
    return std::optional<PoolBytes>(PoolBytes(*std::move(block), max));
  }

 private:
  // Makes sure held_ has bytes, unless the inner reader is at EOF (held_
  // stays empty). Asks for at most `max` bytes.
  absl::Status Refill(size_t max) {
    while (held_.empty()) {
      absl::StatusOr<std::optional<PoolBytes>> next = inner().read_owned(max);
      if (!next.ok()) return next.status();
      if (!next->has_value()) return absl::OkStatus();  // EOF
      held_ = std::move(**next);
    }
    return absl::OkStatus();
  }

  adapters_internal::InnerHolder<R> inner_;
  PoolBytes held_;  // bytes read from the inner reader, not yet delivered
};

template <class R>
OwnedToBufReader(R) -> OwnedToBufReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_OWNED_TO_BUF_H_
