// -----------------------------------------------------------------------------
// File: adapters/buf_to_owned.h
// -----------------------------------------------------------------------------
//
// BufToOwnedReader<R> turns a reader that fills a caller's buffer
// (`read_buf(b)` or `try_read(b)`) into one that hands out owned bytes
// (`read_owned(max)` -> PoolBytes, OwnedReader). It takes a block from the
// calling thread's BufferPool only when it is asked to read -- for a
// try_read reader, after the caller saw readiness -- lets the inner reader
// write straight into it (through a BorrowedReadBuf over the uninitialized
// block) and hands the same block out. On would-block or EOF the block goes
// straight back to the pool, so nothing is held between reads.
//
// Copies: 0. Zeroes: never.
//
// With a BufReader inner reader, read_owned() blocks as its read_buf does;
// with only try_read, read_owned() is non-blocking and returns
// WouldBlockError() when no data is ready. The async form (wait for
// readiness, then allocate) is adapters/async_ready_to_owned.h.
//
// Example:
//
//   readbuf::BufToOwnedReader reader(readbuf::FdReader(fd));
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       reader.read_owned(16 * 1024);   // nullopt = EOF

#ifndef READBUF_ADAPTERS_BUF_TO_OWNED_H_
#define READBUF_ADAPTERS_BUF_TO_OWNED_H_

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/forwarding_reader.h"
#include "adapters/internal/read_steps.h"
#include "buf/borrowed_read_buf.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "io/reader_concepts.h"

namespace readbuf {

// Settings for BufToOwnedReader.
struct BufToOwnedOptions {
  // The largest block taken per read_owned() call (smaller when the caller's
  // `max` is). Default: 16 KiB.
  size_t max_block_size = 16 * 1024;
  // The pool blocks come from. Default (nullptr): the calling thread's
  // BufferPool::ForThisThread(), looked up at each call.
  BufferPool* pool = nullptr;
};

// BufToOwnedReader<R>
//
// R is the inner reader (by value), or T* to borrow one. REQUIRES:
// Inner<R> models BufReader or TryReader.
//
// Thread safety: as the inner reader; blocks come from the calling thread's
// pool.
template <class R>
  requires BufReader<adapters_internal::Inner<R>> ||
           TryReader<adapters_internal::Inner<R>>
class BufToOwnedReader : public adapters_internal::ForwardingReader<R> {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "BufToOwnedReader";
  static constexpr std::string_view kHeader = "adapters/buf_to_owned.h";
  static constexpr std::string_view kFrom =
      "BufReader `read_buf(b)` or ready + `try_read(b)`";
  static constexpr std::string_view kTo = "OwnedReader `read_owned(max)`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "pool block taken only when reading (after readiness), filled in "
      "place, handed out as `PoolBytes`";

  explicit BufToOwnedReader(R inner, BufToOwnedOptions options = {})
      : adapters_internal::ForwardingReader<R>(std::move(inner)),
        options_(options) {}

  // Reads at most `max` bytes into a fresh pool block and returns them;
  // nullopt = EOF.
  // Errors: the inner reader's (WouldBlockError() from a try_read reader);
  // ResourceExhausted from a capped pool.
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    const size_t want = std::max<size_t>(1, std::min(max, options_.max_block_size));
    BufferPool& pool =
        options_.pool != nullptr ? *options_.pool : BufferPool::ForThisThread();
    return adapters_internal::FillPoolBlock(
        pool, want, [this](BorrowedReadBuf& buf) {
          if constexpr (BufReader<InnerReader>) {
            return adapters_internal::CallReadBuf(this->inner(), buf);
          } else {
            return adapters_internal::CallTryRead(this->inner(), buf);
          }
        });
  }

  // read, read_buf, readv and try_read: the inner reader's, forwarded.

 private:
  BufToOwnedOptions options_;
};

template <class R>
BufToOwnedReader(R) -> BufToOwnedReader<R>;
template <class R>
BufToOwnedReader(R, BufToOwnedOptions) -> BufToOwnedReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_BUF_TO_OWNED_H_
