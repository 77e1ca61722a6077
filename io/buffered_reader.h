// -----------------------------------------------------------------------------
// File: io/buffered_reader.h
// -----------------------------------------------------------------------------
//
// BufferedReader<S, B>: buffered reading on the reactor over any async reader
// and any ReadBuf policy -- the building block for framed protocols (an
// HTTP/1.1 server reads its request head with read_until("\r\n\r\n") and its
// body with read_exact / take). It reads like Tokio's `BufReader`
// (fill_buf -> fill(), buffer(), consume(n), read_until, read_line), Asio's
// `read_until` (the message is left in the buffer; consume it when done) and
// Riegeli's `Reader` (Pull(n) -> read_exact(n) / peek). The I/O-free core
// (buffer, consume, find, compaction, growth, limits, stats) is Buffered<B>
// in buf/buffered.h, shared with the synchronous twin in
// adapters/buffered_sync_reader.h.
//
// Operations (each a Task; `co_await` it on the stream's core):
//
//   fill()                    one read: bytes added, 0 = EOF (sticky)
//   read_until(delim, max)    the unconsumed bytes up to and including the
//                             first `delim`, NOT consumed
//   read_exact(n)             the first n unconsumed bytes, NOT consumed
//   read_line(max)            a line without "\n" / "\r\n", consumed with
//                             its terminator
//   take(n)                   n bytes as PoolBytes, consumed (zero-copy
//                             under Pooled when they are all that is
//                             buffered)
//   buffer(), consume(n)      the unconsumed bytes; no I/O
//
// Results: a message, std::nullopt for a clean EOF (the source ended with
// nothing buffered: at a message boundary), or an error:
//   ResourceExhausted  "read_until: no delimiter within max_bytes=8192 (8192
//                      bytes buffered)"; the limit named may also be
//                      max_buffered, a fixed policy's capacity or Pooled's
//                      largest block (BufferedOptions, Buffered::limit())
//   OutOfRange         "read_until: EOF after 17 bytes, before the
//                      delimiter" (EOF inside a message; the bytes stay
//                      buffered)
//   the source's own errors, unchanged (ECONNRESET, ...)
// A message span stays valid until the next operation that reads (fill,
// read_*, take) or a move of the reader; consume() keeps it valid.
//
// Dispatch: the first of these the stream has, in this order, which
// prefers no copy and no zeroing, then holding no memory while waiting:
//
//   1. async_fd() (TcpStream, UnixStream, PipeReader), or a read_into()
//      overload of its own (TlsStream): read_into() -- wait for readiness,
//      then the policy's memory, kernel (or TLS library) writes in place. No
//      copy, no zeroing; a Pooled reader with nothing unconsumed holds no
//      block while it waits.
//   2. AsyncReadyReader, `co_await ready()` + try_read(b): the same order
//      and the same properties (the block is given back before ready()).
//   3. AsyncBufReader, `co_await read_buf(b)`: no copy, no zeroing, but the
//      memory is prepared before the wait (a Pooled block is held while the
//      read is pending).
//   4. AsyncSpanReader, `co_await read(span)`: no copy; the span must be
//      initialized memory, so never-written bytes are zeroed once (the
//      policy's watermark), and the memory is held while the read waits.
//
// Copies: kCopies = 0 per byte delivered. What Buffered<B> may move is
// counted in stats(): the unconsumed tail on compaction or growth (once per
// move), a message crossing Vectored segments (linearized), take() outside
// its zero-copy case. Zeroes: only on path 4, or with Zeroed (every read).
//
// Cancellation: every operation may be cancelled at any suspension (inside
// timeout(), by cancelling its task): a cancelled fill reads nothing (the
// read_into / ready() waits deregister; paths 3 and 4 rely on the inner
// reader's own "a cancelled read reads nothing"), the buffered bytes stay as
// they were, and the reader stays usable. Compaction and growth happen only
// between suspensions and leave the same bytes buffered.
//
// Example (an echo of lines):
//
//   readbuf::BufferedReader<readbuf::TcpStream, readbuf::Pooled> in(std::move(conn));
//   for (;;) {
//     absl::StatusOr<readbuf::BufferedMessage> line =
//         co_await in.read_until('\n', 8192);
//     if (!line.ok()) co_return line.status();        // too long, EOF mid-line
//     if (!line->has_value()) co_return absl::OkStatus();  // clean EOF
//     RETURN_IF_ERROR(co_await in.stream().write_all(**line));
//     in.consume((*line)->size());
//   }
//
// Thread safety: one task at a time, on the stream's core.

#ifndef READBUF_IO_BUFFERED_READER_H_
#define READBUF_IO_BUFFERED_READER_H_

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffered.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/internal/read_guard.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "io/io_status.h"
#include "io/read_into.h"
#include "io/reader_concepts.h"
#include "io/task.h"

namespace readbuf {

// How a BufferedReader reads from its stream (see the file comment).
enum class BufferedReadPath { kReadInto, kReadyTryRead, kReadBuf, kReadSpan };

namespace io_internal {

template <class S>
struct BufferedStreamOf {
  using type = S;
};
template <class S>
struct BufferedStreamOf<S*> {
  using type = S;
};

// A stream with a read_into() overload of its own (found by ADL), like
// TlsStream's.
template <class S>
concept HasReadInto = requires(S& s, Pooled& b) { read_into(s, b); };

template <class S>
constexpr BufferedReadPath PickBufferedReadPath() {
  if constexpr (HasAsyncFd<S> || HasReadInto<S>) {
    return BufferedReadPath::kReadInto;
  } else if constexpr (AsyncReadyReader<S>) {
    return BufferedReadPath::kReadyTryRead;
  } else if constexpr (AsyncBufReader<S>) {
    return BufferedReadPath::kReadBuf;
  } else {
    return BufferedReadPath::kReadSpan;
  }
}

}  // namespace io_internal

// A stream a BufferedReader can read from.
template <class S>
concept AsyncBufferedSource = HasAsyncFd<S> || io_internal::HasReadInto<S> ||
                              AsyncReadyReader<S> || AsyncBufReader<S> || AsyncSpanReader<S>;

// BufferedReader<S, B>
//
// S is the stream, held by value (S = TcpStream) or borrowed (S = T*: the
// stream must outlive the reader). B is the buffer policy, owned.
// Move-only; not while an operation is pending.
//
// REQUIRES for every operation: awaited on the stream's core, one at a
// time, and the reader (and for read_until(string_view), the delimiter)
// outlives the co_await.
template <class S, ReadBuf B = Pooled>
  requires AsyncBufferedSource<typename io_internal::BufferedStreamOf<S>::type>
class BufferedReader {
 public:
  using Stream = typename io_internal::BufferedStreamOf<S>::type;
  using Policy = B;

  static constexpr BufferedReadPath kPath =
      io_internal::PickBufferedReadPath<Stream>();
  static constexpr std::string_view kName = "BufferedReader";
  static constexpr std::string_view kHeader = "io/buffered_reader.h";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = kPath == BufferedReadPath::kReadSpan ||
                                  read_buf_traits<B>::kZeroesEveryRead;
  static constexpr std::string_view kNote =
      "bytes stay where the reader wrote them; the unconsumed tail is moved "
      "once per compaction or growth, a message crossing Vectored segments "
      "is linearized, take() copies except under Pooled (all counted in "
      "stats())";

  explicit BufferedReader(S stream, B policy = B(),
                          BufferedOptions options = {})
      : stream_(std::move(stream)), core_(std::move(policy), options) {}
  BufferedReader(BufferedReader&&) = default;
  BufferedReader& operator=(BufferedReader&&) = default;

  // The stream, e.g. to write replies on the same socket.
  Stream& stream() {
    if constexpr (std::is_pointer_v<S>) {
      return *stream_;
    } else {
      return stream_;
    }
  }

  // The I/O-free core: find(), peek(), limit(), the policy.
  Buffered<B>& core() { return core_; }
  const Buffered<B>& core() const { return core_; }

  // --- No I/O ---
  std::span<const std::byte> buffer() const { return core_.buffer(); }
  size_t buffered_size() const { return core_.buffered_size(); }
  // REQUIRES: n <= buffered_size() (CHECKed).
  void consume(size_t n) { core_.consume(n); }
  const BufferedStats& stats() const { return core_.stats(); }
  bool at_eof() const { return core_.at_eof(); }

  // --- Reads ---

  // One read from the stream into the policy, after making room (clearing,
  // compacting or growing; see buf/buffered.h). Returns the bytes added; 0
  // is EOF, and once seen, every later fill returns 0 without reading.
  // Errors: ResourceExhausted when buffered_size() is already at
  // core().limit(); the stream's errors.
  Task<absl::StatusOr<size_t>> fill() {
    return FillFor(core_.buffered_size() + 1, "fill");
  }

  // The unconsumed bytes up to and including the first `delim`, reading as
  // needed; not consumed. The message is at most `max_bytes` long,
  // delimiter included (and at most core().limit()).
  Task<absl::StatusOr<BufferedMessage>> read_until(std::string_view delim,
                                                   size_t max_bytes) {
    size_t searched = 0;
    if (std::span<const std::byte> m =
            core_.buffered_until(delim, max_bytes, searched);
        !m.empty()) {
      co_return absl::StatusOr<BufferedMessage>(absl::in_place, m);
    }
    for (;;) {
      BufferedStep<BufferedMessage> step =
          core_.until_step(delim, max_bytes, searched);
      if (!step.needs_fill) co_return std::move(step.result);
      absl::StatusOr<size_t> n = co_await FillFor(step.need, "read_until");
      if (!n.ok()) co_return n.status();
    }
  }
  Task<absl::StatusOr<BufferedMessage>> read_until(char delim,
                                                   size_t max_bytes) {
    // `delim` lives in this frame for the whole operation.
    co_return co_await read_until(std::string_view(&delim, 1), max_bytes);
  }

  // The first n unconsumed bytes, contiguous, reading as needed; not
  // consumed. Errors: ResourceExhausted at once when n > core().limit().
  Task<absl::StatusOr<BufferedMessage>> read_exact(size_t n) {
    for (;;) {
      BufferedStep<BufferedMessage> step = core_.exact_step(n);
      if (!step.needs_fill) co_return std::move(step.result);
      absl::StatusOr<size_t> got = co_await FillFor(step.need, "read_exact");
      if (!got.ok()) co_return got.status();
    }
  }

  // The next line, without its "\n" or "\r\n", consumed with its
  // terminator. `max_bytes` counts the terminator. A last line without LF
  // is OutOfRange ("read_line: EOF after 5 bytes, before the LF").
  Task<absl::StatusOr<BufferedMessage>> read_line(size_t max_bytes) {
    size_t searched = 0;
    if (std::optional<std::span<const std::byte>> line =
            core_.buffered_line(max_bytes, searched)) {
      co_return absl::StatusOr<BufferedMessage>(absl::in_place, *line);
    }
    for (;;) {
      BufferedStep<BufferedMessage> step = core_.line_step(max_bytes, searched);
      if (!step.needs_fill) co_return std::move(step.result);
      absl::StatusOr<size_t> n = co_await FillFor(step.need, "read_line");
      if (!n.ok()) co_return n.status();
    }
  }

  // The next n bytes as PoolBytes, consumed; std::nullopt at a clean EOF.
  // Copies: none under Pooled when the n bytes are all that is buffered,
  // else as Buffered::take() states.
  Task<absl::StatusOr<std::optional<PoolBytes>>> take(size_t n) {
    for (;;) {
      BufferedStep<BufferedMessage> step =
          core_.exact_step(n, "take", /*view=*/false);
      if (!step.needs_fill) {
        if (!step.result.ok()) co_return step.result.status();
        if (!step.result->has_value()) co_return std::optional<PoolBytes>();
        absl::StatusOr<PoolBytes> bytes = core_.take(n);
        if (!bytes.ok()) co_return bytes.status();
        co_return std::optional<PoolBytes>(*std::move(bytes));
      }
      absl::StatusOr<size_t> got = co_await FillFor(step.need, "take");
      if (!got.ok()) co_return got.status();
    }
  }

 private:
  // Makes room for `need` unconsumed bytes, then reads once.
  Task<absl::StatusOr<size_t>> FillFor(size_t need, const char* op);

  template <class T>
  static absl::StatusOr<size_t> TryRead(Stream& s, T& buf) {
    if constexpr (requires { s.try_read(buf); }) {
      return s.try_read(buf);
    } else {
      DynRef erased(buf);
      return s.try_read(erased);
    }
  }

  S stream_;
  Buffered<B> core_;
};

// Implementation details follow.

template <class S, ReadBuf B>
  requires AsyncBufferedSource<typename io_internal::BufferedStreamOf<S>::type>
Task<absl::StatusOr<size_t>> BufferedReader<S, B>::FillFor(size_t need,
                                                          const char* op) {
  if (core_.at_eof()) co_return size_t{0};
  if (absl::Status room = core_.make_room(need, op); !room.ok()) {
    co_return room;
  }
  B& buf = core_.policy();
  Stream& s = stream();
  absl::StatusOr<size_t> n = size_t{0};
  if constexpr (kPath == BufferedReadPath::kReadInto) {
    // Waits first; release_idle / prepare / record_read happen inside.
    n = co_await read_into(s, buf);
  } else if constexpr (kPath == BufferedReadPath::kReadyTryRead) {
    for (;;) {
      // Nothing unconsumed: hold no memory while waiting.
      if (buf.filled_size() == 0) read_buf_traits<B>::release_idle(buf);
      if (absl::Status ready = co_await s.ready(); !ready.ok()) co_return ready;
      if (absl::Status prepared = read_buf_traits<B>::prepare(buf, 0);
          !prepared.ok()) {
        co_return prepared;
      }
      const size_t offered = remaining(buf);
      buf_internal::ReadGuard<B> guard(buf);
      n = TryRead(s, buf);
      if (!n.ok() && IsWouldBlock(n.status())) continue;
      if (n.ok()) {
        guard.Verify(*n);
        read_buf_traits<B>::record_read(buf, *n, offered);
      }
      break;
    }
  } else if constexpr (kPath == BufferedReadPath::kReadBuf) {
    if (absl::Status prepared = read_buf_traits<B>::prepare(buf, 0);
        !prepared.ok()) {
      co_return prepared;
    }
    const size_t offered = remaining(buf);
    buf_internal::ReadGuard<B> guard(buf);
    if constexpr (requires { s.read_buf(buf); }) {
      n = co_await s.read_buf(buf);
    } else {
      DynRef erased(buf);
      n = co_await s.read_buf(erased);
    }
    if (n.ok()) {
      guard.Verify(*n);
      read_buf_traits<B>::record_read(buf, *n, offered);
    }
  } else {
    static_assert(kPath == BufferedReadPath::kReadSpan);
    if (absl::Status prepared = read_buf_traits<B>::prepare(buf, 0);
        !prepared.ok()) {
      co_return prepared;
    }
    // Zeroes only never-written bytes (once, the watermark remembers).
    const std::span<std::byte> dst = buf.initialize_unfilled();
    n = co_await s.read(dst);
    if (n.ok()) {
      if (*n > dst.size()) {
        co_return absl::InternalError(
            "BufferedReader: the stream reported more bytes than it was given");
      }
      buf.advance(*n);
      read_buf_traits<B>::record_read(buf, *n, dst.size());
    }
  }
  if (n.ok()) core_.record_fill(*n);
  co_return n;
}

}  // namespace readbuf

#endif  // READBUF_IO_BUFFERED_READER_H_
