// -----------------------------------------------------------------------------
// File: io/reader_concepts.h
// -----------------------------------------------------------------------------
//
// The pluggable read interface: one concept per capability a reader may have.
// A reader type models every concept it can serve; wrappers and adapters
// (adapters/) forward each capability by construction, so wrapping never
// loses one (the lesson of Tokio's `is_write_vectored() == false` default).
// A type-erased reader (adapters/any_reader.h) carries them as a bit mask.
//
// Synchronous readers (blocking, or non-blocking with WouldBlockError()):
//
//   concept          | expression                 | result
//   -----------------+----------------------------+-------------------------------
//   SpanReader       | r.read(std::span<byte> s)  | StatusOr<size_t>: bytes written
//                    |                            | to the front of s; 0 = EOF
//                    |                            | (REQUIRES: !s.empty())
//   BufReader        | r.read_buf(b)              | StatusOr<size_t>: bytes added to
//                    |   (b: any ReadBuf; checked |   b's filled region (b.advance
//                    |    with a DynRef&)         |   done by the reader); 0 = EOF.
//                    |                            | Never reads b's unfilled bytes.
//   VectoredReader   | r.readv(std::span<const    | StatusOr<size_t>: bytes scattered
//                    |   iovec> iov)              | over iov in order; 0 = EOF
//   TryReader        | r.try_read(b)              | like read_buf, or WouldBlockError()
//                    |                            | when no data is ready
//   OwnedReader      | r.read_owned(max)          | StatusOr<optional<PoolBytes>>:
//                    |                            | at most max bytes the reader
//                    |                            | allocated; nullopt = EOF
//
// Asynchronous readers have the same members, returning awaitables (such as
// Task<...>) that produce the same results; AsyncReadyReader adds
// `r.ready()`, an awaitable producing absl::Status once data (or EOF, or an
// error) is there, after which try_read() does not block. Waiting first and
// asking the buffer for memory after is what lets Pooled hold nothing while
// a connection is idle.
//
// Errors are absl::Status built with absl::ErrnoToStatus(errno, "<operation>")
// (see io/io_status.h); EINTR is retried inside the reader, never returned.

#ifndef READBUF_IO_READER_CONCEPTS_H_
#define READBUF_IO_READER_CONCEPTS_H_

#include <sys/uio.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/pool_bytes.h"
#include "io/internal/awaitable.h"

namespace readbuf {

// An awaitable whose `co_await` produces something convertible to T.
template <class A, class T>
concept AwaitableOf = requires(A a) {
  { io_internal::GetAwaiter(std::move(a)).await_ready() } -> std::convertible_to<bool>;
  { io_internal::GetAwaiter(std::move(a)).await_resume() } -> std::convertible_to<T>;
};

// --- Synchronous ---

template <class R>
concept SpanReader = requires(R& r, std::span<std::byte> s) {
  { r.read(s) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class R>
concept BufReader = requires(R& r, DynRef& b) {
  { r.read_buf(b) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class R>
concept VectoredReader = requires(R& r, std::span<const iovec> iov) {
  { r.readv(iov) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class R>
concept TryReader = requires(R& r, DynRef& b) {
  { r.try_read(b) } -> std::same_as<absl::StatusOr<size_t>>;
};

template <class R>
concept OwnedReader = requires(R& r, size_t max) {
  { r.read_owned(max) } -> std::same_as<absl::StatusOr<std::optional<PoolBytes>>>;
};

// --- Asynchronous ---

template <class R>
concept AsyncSpanReader = requires(R& r, std::span<std::byte> s) {
  { r.read(s) } -> AwaitableOf<absl::StatusOr<size_t>>;
};

template <class R>
concept AsyncBufReader = requires(R& r, DynRef& b) {
  { r.read_buf(b) } -> AwaitableOf<absl::StatusOr<size_t>>;
};

template <class R>
concept AsyncVectoredReader = requires(R& r, std::span<const iovec> iov) {
  { r.readv(iov) } -> AwaitableOf<absl::StatusOr<size_t>>;
};

template <class R>
concept AsyncReadyReader = TryReader<R> && requires(R& r) {
  { r.ready() } -> AwaitableOf<absl::Status>;
};

template <class R>
concept AsyncOwnedReader = requires(R& r, size_t max) {
  { r.read_owned(max) } -> AwaitableOf<absl::StatusOr<std::optional<PoolBytes>>>;
};

// Capability bits, for run-time checks and type-erased readers.
enum ReaderCapability : uint32_t {
  kReadSpan = 1u << 0,
  kReadBuf = 1u << 1,
  kReadVectored = 1u << 2,
  kReadTry = 1u << 3,
  kReadOwned = 1u << 4,
};

// The synchronous capabilities R has, as a mask.
template <class R>
inline constexpr uint32_t kReaderCapabilities =
    (SpanReader<R> ? kReadSpan : 0u) | (BufReader<R> ? kReadBuf : 0u) |
    (VectoredReader<R> ? kReadVectored : 0u) | (TryReader<R> ? kReadTry : 0u) |
    (OwnedReader<R> ? kReadOwned : 0u);

// True when readv(2)-style scatter reads are a real capability of R, so a
// caller with a vectored buffer should use them.
template <class R>
inline constexpr bool is_read_vectored_v = VectoredReader<R> || AsyncVectoredReader<R>;

}  // namespace readbuf

#endif  // READBUF_IO_READER_CONCEPTS_H_
