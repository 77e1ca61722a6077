// -----------------------------------------------------------------------------
// File: adapters/async_ready_to_owned.h
// -----------------------------------------------------------------------------
//
// AsyncReadyToOwnedReader<R> turns an async reader that separates *when* from
// *how* -- `co_await r.ready()`, then a non-blocking `r.try_read(b)`
// (AsyncReadyReader, io/reader_concepts.h) -- into an async OwnedReader:
// `co_await read_owned(max)` gives PoolBytes. It waits for readiness first
// and only then takes a block from the calling core's BufferPool, lets the
// reader write straight into it, and hands the same block out. An idle
// connection therefore holds no buffer, and the data is not copied (design
// decision 1). If try_read still finds nothing (a spurious wake-up), the block
// goes straight back and it waits again.
//
// Copies: 0. Zeroes: never.
//
// An opaque async span reader (one that takes its buffer before it waits)
// cannot be bridged this way, and the per-thread scratch of
// ScratchCopyReader does not help there: a C++ awaitable keeps its span
// across the suspension, so two connections on one thread would share the
// scratch. Such a reader needs a buffer per pending read.
//
// Example:
//
//   readbuf::AsyncReadyToOwnedReader reader(&connection);   // ready + try_read
//   absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes =
//       co_await reader.read_owned(16 * 1024);               // nullopt = EOF

#ifndef READBUF_ADAPTERS_ASYNC_READY_TO_OWNED_H_
#define READBUF_ADAPTERS_ASYNC_READY_TO_OWNED_H_

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/buf_to_owned.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/read_steps.h"
#include "buf/borrowed_read_buf.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "io/task.h"

namespace readbuf {

// AsyncReadyToOwnedReader<R>
//
// R is the reader (by value), or T* to borrow one. REQUIRES: Inner<R>
// models AsyncReadyReader. Options as BufToOwnedReader's.
//
// Thread safety: as the reader; one read_owned() at a time. Blocks come
// from the pool of the core the coroutine runs on (or options.pool).
template <class R>
  requires AsyncReadyReader<adapters_internal::Inner<R>>
class AsyncReadyToOwnedReader {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "AsyncReadyToOwnedReader";
  static constexpr std::string_view kHeader = "adapters/async_ready_to_owned.h";
  static constexpr std::string_view kFrom =
      "async `co_await ready()` + `try_read(b)`";
  static constexpr std::string_view kTo =
      "async OwnedReader `co_await read_owned(max)`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "waits first, then takes a pool block and fills it in place: idle "
      "connections hold nothing";

  explicit AsyncReadyToOwnedReader(R reader, BufToOwnedOptions options = {})
      : reader_(std::move(reader)), options_(options) {}

  InnerReader& inner() { return reader_.get(); }

  // Waits for data, then reads at most `max` bytes into a fresh pool block;
  // nullopt = EOF.
  // Errors: the reader's (from ready() or try_read()), unchanged;
  // ResourceExhausted from a capped pool.
  Task<absl::StatusOr<std::optional<PoolBytes>>> read_owned(size_t max) {
    const size_t want =
        std::max<size_t>(1, std::min(max, options_.max_block_size));
    for (;;) {
      absl::Status ready = co_await inner().ready();
      if (!ready.ok()) co_return ready;
      BufferPool& pool = options_.pool != nullptr ? *options_.pool
                                                  : BufferPool::ForThisThread();
      absl::StatusOr<std::optional<PoolBytes>> bytes =
          adapters_internal::FillPoolBlock(  // the block is taken only now
              pool, want, [this](BorrowedReadBuf& buf) {
                return adapters_internal::CallTryRead(inner(), buf);
              });
      if (!bytes.ok() && IsWouldBlock(bytes.status())) continue;  // released
      co_return bytes;
    }
  }

  // --- Forwarded capabilities of the reader ---

  auto ready() { return inner().ready(); }
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    return adapters_internal::CallTryRead(inner(), b);
  }

 private:
  adapters_internal::InnerHolder<R> reader_;
  BufToOwnedOptions options_;
};

template <class R>
AsyncReadyToOwnedReader(R) -> AsyncReadyToOwnedReader<R>;
template <class R>
AsyncReadyToOwnedReader(R, BufToOwnedOptions) -> AsyncReadyToOwnedReader<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ASYNC_READY_TO_OWNED_H_
