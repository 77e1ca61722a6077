// -----------------------------------------------------------------------------
// File: adapters/buffered_sync_reader.h
// -----------------------------------------------------------------------------
//
// BufferedSyncReader<R, B>: buffered reading over any synchronous reader
// (BufReader, TryReader, VectoredReader or SpanReader, io/reader_concepts.h)
// and any ReadBuf policy: fill(), buffer(), consume(n), read_until,
// read_exact, read_line, take -- the same operations, results and errors as
// the reactor's BufferedReader (io/buffered_reader.h), without coroutines,
// for files, pipes in blocking mode, FILE*, Asio sockets, tests and fuzzing.
// Like Tokio's `BufReader<R>` (std::io::BufRead), Asio's
// `buffered_read_stream<Stream>` + `read_until`, and Riegeli's Reader; the
// I/O-free core is Buffered<B> (buf/buffered.h).
//
//   fill()                    one read: bytes added, 0 = EOF (sticky)
//   read_until(delim, max)    bytes up to and including `delim`, NOT consumed
//   read_exact(n)             the first n bytes, NOT consumed
//   read_line(max)            a line without "\n" / "\r\n", consumed
//   take(n)                   n bytes as PoolBytes, consumed
//
// Results: a message, std::nullopt for a clean EOF (nothing buffered when
// the source ended), ResourceExhausted naming the limit ("read_until: no
// delimiter within max_bytes=8192 (8192 bytes buffered)"), OutOfRange for EOF
// inside a message ("read_until: EOF after 17 bytes, before the delimiter"),
// or the reader's own error, unchanged -- including WouldBlockError() from a
// non-blocking reader: the operation stopped, every byte read so far stays
// buffered, and calling it again continues.
//
// Dispatch: the first of these the reader has -- no copy and no zeroing
// first:
//   1. read_buf(b)   BufReader: the reader fills the policy in place
//   2. try_read(b)   TryReader: the same, non-blocking
//   3. readv(iov)    VectoredReader: the policy's free regions, as iovecs
//                    (write-only, so no zeroing)
//   4. read(span)    SpanReader: the span must be initialized, so the
//                    policy zeroes never-written bytes once (its watermark)
// The policy is prepare()d before each read (a Pooled takes its block then)
// and gets record_read() feedback after it.
//
// Copies: kCopies = 0 per byte delivered; the unconsumed tail moves once per
// compaction or growth, a message crossing Vectored segments is linearized,
// take() copies outside its zero-copy case -- all counted in stats().
// Zeroes: kZeroes, on path 4 or with Zeroed.
//
// Example:
//
//   readbuf::BufferedSyncReader in(readbuf::FdReader(fd), readbuf::Uninit(8192));
//   for (;;) {
//     absl::StatusOr<readbuf::BufferedMessage> line = in.read_line(4096);
//     if (!line.ok()) return line.status();
//     if (!line->has_value()) break;                 // clean EOF
//     Handle(readbuf::AsStringView(**line));         // line is consumed
//   }

#ifndef READBUF_ADAPTERS_BUFFERED_SYNC_READER_H_
#define READBUF_ADAPTERS_BUFFERED_SYNC_READER_H_

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "buf/buffered.h"
#include "buf/internal/read_guard.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "io/reader_concepts.h"

namespace readbuf {

// How a BufferedSyncReader reads from its reader (see the file comment).
enum class BufferedSyncReadPath { kReadBuf, kTryRead, kReadv, kReadSpan };

// A reader BufferedSyncReader can read from.
template <class R>
concept SyncBufferedSource =
    BufReader<R> || TryReader<R> || VectoredReader<R> || SpanReader<R>;

// BufferedSyncReader<R, B>
//
// R is the inner reader (by value), or T* to borrow one (it must outlive
// this). B is the buffer policy, owned. Move-only when B is.
//
// Thread safety: distinct objects are safe; one object is not.
template <class R, ReadBuf B = Pooled>
  requires SyncBufferedSource<adapters_internal::Inner<R>>
class BufferedSyncReader {
 public:
  using InnerReader = adapters_internal::Inner<R>;
  using Policy = B;

  static constexpr BufferedSyncReadPath kPath =
      BufReader<InnerReader>     ? BufferedSyncReadPath::kReadBuf
      : TryReader<InnerReader>   ? BufferedSyncReadPath::kTryRead
      : VectoredReader<InnerReader> ? BufferedSyncReadPath::kReadv
                                    : BufferedSyncReadPath::kReadSpan;
  static constexpr std::string_view kName = "BufferedSyncReader";
  static constexpr std::string_view kHeader = "adapters/buffered_sync_reader.h";
  static constexpr std::string_view kFrom =
      "BufReader / TryReader / VectoredReader / SpanReader";
  static constexpr std::string_view kTo =
      "buffer() / consume(n) / read_until / read_exact / read_line / take";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = kPath == BufferedSyncReadPath::kReadSpan ||
                                  read_buf_traits<B>::kZeroesEveryRead;
  static constexpr std::string_view kNote =
      "bytes stay where the reader wrote them; the unconsumed tail is moved "
      "once per compaction or growth, a message crossing Vectored segments "
      "is linearized, take() copies except under Pooled (all counted in "
      "stats())";

  explicit BufferedSyncReader(R inner, B policy = B(),
                              BufferedOptions options = {})
      : inner_(std::move(inner)), core_(std::move(policy), options) {}

  InnerReader& inner() { return inner_.get(); }
  Buffered<B>& core() { return core_; }
  const Buffered<B>& core() const { return core_; }

  // --- No I/O ---
  std::span<const std::byte> buffer() const { return core_.buffer(); }
  size_t buffered_size() const { return core_.buffered_size(); }
  // REQUIRES: n <= buffered_size() (CHECKed).
  void consume(size_t n) { core_.consume(n); }
  const BufferedStats& stats() const { return core_.stats(); }
  bool at_eof() const { return core_.at_eof(); }

  // --- Reads (same contracts as BufferedReader's) ---

  absl::StatusOr<size_t> fill() {
    return FillFor(core_.buffered_size() + 1, "fill");
  }

  absl::StatusOr<BufferedMessage> read_until(std::string_view delim,
                                             size_t max_bytes) {
    size_t searched = 0;
    // Fast path: the message is buffered already (built in place: no
    // temporaries to copy).
    if (std::span<const std::byte> m =
            core_.buffered_until(delim, max_bytes, searched);
        !m.empty()) {
      return absl::StatusOr<BufferedMessage>(absl::in_place, m);
    }
    for (;;) {
      BufferedStep<BufferedMessage> step =
          core_.until_step(delim, max_bytes, searched);
      if (!step.needs_fill) return std::move(step.result);
      absl::StatusOr<size_t> n = FillFor(step.need, "read_until");
      if (!n.ok()) return n.status();
    }
  }
  absl::StatusOr<BufferedMessage> read_until(char delim, size_t max_bytes) {
    return read_until(std::string_view(&delim, 1), max_bytes);
  }

  absl::StatusOr<BufferedMessage> read_exact(size_t n) {
    for (;;) {
      BufferedStep<BufferedMessage> step = core_.exact_step(n);
      if (!step.needs_fill) return std::move(step.result);
      absl::StatusOr<size_t> got = FillFor(step.need, "read_exact");
      if (!got.ok()) return got.status();
    }
  }

  absl::StatusOr<BufferedMessage> read_line(size_t max_bytes) {
    size_t searched = 0;
    if (std::optional<std::span<const std::byte>> line =
            core_.buffered_line(max_bytes, searched)) {
      return absl::StatusOr<BufferedMessage>(absl::in_place, *line);
    }
    for (;;) {
      BufferedStep<BufferedMessage> step = core_.line_step(max_bytes, searched);
      if (!step.needs_fill) return std::move(step.result);
      absl::StatusOr<size_t> n = FillFor(step.need, "read_line");
      if (!n.ok()) return n.status();
    }
  }

  absl::StatusOr<std::optional<PoolBytes>> take(size_t n) {
    for (;;) {
      BufferedStep<BufferedMessage> step =
          core_.exact_step(n, "take", /*view=*/false);
      if (!step.needs_fill) {
        if (!step.result.ok()) return step.result.status();
        if (!step.result->has_value()) return std::optional<PoolBytes>();
        absl::StatusOr<PoolBytes> bytes = core_.take(n);
        if (!bytes.ok()) return bytes.status();
        return std::optional<PoolBytes>(*std::move(bytes));
      }
      absl::StatusOr<size_t> got = FillFor(step.need, "take");
      if (!got.ok()) return got.status();
    }
  }

 private:
  absl::StatusOr<size_t> FillFor(size_t need, const char* op) {
    if (core_.at_eof()) return 0;
    if (absl::Status room = core_.make_room(need, op); !room.ok()) return room;
    absl::StatusOr<size_t> n = ReadOnce(core_.policy());
    if (n.ok()) core_.record_fill(*n);
    return n;
  }

  absl::StatusOr<size_t> ReadOnce(B& buf) {
    if (absl::Status prepared = read_buf_traits<B>::prepare(buf, 0);
        !prepared.ok()) {
      return prepared;
    }
    InnerReader& r = inner();
    if constexpr (kPath == BufferedSyncReadPath::kReadBuf ||
                  kPath == BufferedSyncReadPath::kTryRead) {
      const size_t offered = remaining(buf);
      buf_internal::ReadGuard<B> guard(buf);
      absl::StatusOr<size_t> n =
          kPath == BufferedSyncReadPath::kReadBuf
              ? CallRead(r, buf)
              : CallTry(r, buf);
      if (!n.ok()) return n;
      guard.Verify(*n);
      read_buf_traits<B>::record_read(buf, *n, offered);
      return n;
    } else if constexpr (kPath == BufferedSyncReadPath::kReadv) {
      std::array<iovec, adapters_internal::kMaxIovecs> iov;
      const size_t count = adapters_internal::UnfilledIovecs(buf, iov);
      const std::span<const iovec> regions(iov.data(), count);
      const size_t offered = adapters_internal::TotalSize(regions);
      absl::StatusOr<size_t> n = r.readv(regions);
      if (!n.ok()) return n;
      if (*n > offered) {
        return absl::InternalError(
            "BufferedSyncReader: readv reported more bytes than it was given");
      }
      buf.advance(*n);
      read_buf_traits<B>::record_read(buf, *n, offered);
      return n;
    } else {
      // Zeroes only never-written bytes (once, the watermark remembers).
      const std::span<std::byte> dst = buf.initialize_unfilled();
      absl::StatusOr<size_t> n = r.read(dst);
      if (!n.ok()) return n;
      if (*n > dst.size()) {
        return absl::InternalError(
            "BufferedSyncReader: read reported more bytes than it was given");
      }
      buf.advance(*n);
      read_buf_traits<B>::record_read(buf, *n, dst.size());
      return n;
    }
  }

  static absl::StatusOr<size_t> CallRead(InnerReader& r, B& buf) {
    if constexpr (BufReader<InnerReader>) {
      return adapters_internal::CallReadBuf(r, buf);
    } else {
      return absl::InternalError("unreachable");
    }
  }
  static absl::StatusOr<size_t> CallTry(InnerReader& r, B& buf) {
    if constexpr (TryReader<InnerReader>) {
      return adapters_internal::CallTryRead(r, buf);
    } else {
      return absl::InternalError("unreachable");
    }
  }

  adapters_internal::InnerHolder<R> inner_;
  Buffered<B> core_;
};

template <class R, ReadBuf B>
BufferedSyncReader(R, B) -> BufferedSyncReader<R, B>;
template <class R, ReadBuf B>
BufferedSyncReader(R, B, BufferedOptions) -> BufferedSyncReader<R, B>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_BUFFERED_SYNC_READER_H_
