// -----------------------------------------------------------------------------
// File: buf/read_buf.h
// -----------------------------------------------------------------------------
//
// The ReadBuf concept: what a reader fills. A server picks how it buffers
// reads by picking a type that models it (buf/zeroed.h, buf/uninit.h,
// buf/vectored.h, buf/dyn.h, buf/pooled.h); code that reads is written once
// against the concept.
//
// A ReadBuf is `capacity` bytes of which a prefix is *filled* (data a reader
// delivered) and a longer prefix is *initialized* (written at least once):
//
//   [ filled (read-only) | initialized, unfilled | uninitialized ]
//   0                 filled                initialized      capacity
//
// Invariant: filled <= initialized <= capacity. Uninitialized bytes are never
// observable: `filled()` is read-only and inside the initialized prefix, and
// the unfilled part is handed out as a write-only `UninitSpan`.
//
// Requirements, for `b` a `B&`, `cb` a `const B&` and `n` a `size_t`
// (in the style of Asio's named requirements):
//
//   expression               | type               | semantics
//   -------------------------+--------------------+------------------------------
//   cb.capacity()            | size_t             | total bytes
//   cb.filled_size()         | size_t             | bytes delivered so far
//   cb.initialized_size()    | size_t             | bytes written at least once
//   b.unfilled()             | UninitSpan         | next region to write into;
//                            |                    | for a vectored buffer, the
//                            |                    | current segment's free part
//   b.initialize_unfilled()  | std::span<byte>    | zeroes the uninitialized part
//                            |                    | of unfilled() (once; the
//                            |                    | watermark remembers) and
//                            |                    | returns unfilled() as
//                            |                    | initialized memory
//   b.advance(n)             |                    | marks n bytes of unfilled()
//                            |                    | written. REQUIRES: n <=
//                            |                    | unfilled().size(); debug
//                            |                    | builds CHECK it, release
//                            |                    | builds clamp n
//   b.clear()                |                    | filled = 0; the initialized
//                            |                    | watermark is kept
//
// ContiguousReadBuf adds `cb.filled()` -> std::span<const std::byte>.
// VectoredReadBuf (a scatter buffer; see buf/vectored.h) adds
//   cb.segment_count()                     -> size_t
//   cb.filled_segment(i)                   -> std::span<const std::byte>
//                                             (i < segment_count(); may be empty)
//   b.unfilled_iovecs(std::span<iovec>)    -> size_t  (iovecs written, in fill
//                                             order, for readv(2))
// Code that consumes data from any ReadBuf uses `for_each_filled()` below.
//
// Optional hooks are reached only through `read_buf_traits<B>`, which supplies
// documented defaults (the Abseil hash-policy-traits technique), so a hook
// added later breaks no existing buffer type: prepare, release_idle,
// record_read (the io layer), reserve, max_capacity, take_filled (growth and
// zero-copy hand-off, for buf/buffered.h).

#ifndef READBUF_BUF_READ_BUF_H_
#define READBUF_BUF_READ_BUF_H_

#include <sys/uio.h>

#include <concepts>
#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "buf/uninit_span.h"

namespace readbuf {

template <class B>
concept ReadBuf = requires(B& b, const B& cb, size_t n) {
  { cb.capacity() } -> std::same_as<size_t>;
  { cb.filled_size() } -> std::same_as<size_t>;
  { cb.initialized_size() } -> std::same_as<size_t>;
  { b.unfilled() } -> std::same_as<UninitSpan>;
  { b.initialize_unfilled() } -> std::same_as<std::span<std::byte>>;
  b.advance(n);
  b.clear();
};

template <class B>
concept ContiguousReadBuf = ReadBuf<B> && requires(const B& cb) {
  { cb.filled() } -> std::same_as<std::span<const std::byte>>;
};

template <class B>
concept VectoredReadBuf =
    ReadBuf<B> && requires(B& b, const B& cb, size_t i, std::span<iovec> iov) {
  { cb.segment_count() } -> std::same_as<size_t>;
  { cb.filled_segment(i) } -> std::same_as<std::span<const std::byte>>;
  { b.unfilled_iovecs(iov) } -> std::same_as<size_t>;
};

// read_buf_traits<B>
//
// The only way readbuf's io layer and adapters call a buffer's optional hooks.
// Each hook's default is stated; a buffer type opts in by declaring the member.
template <ReadBuf B>
struct read_buf_traits {
  // OPTIONAL: `static constexpr bool kDefersMemory`. Default: false.
  // True when the buffer holds no memory until `prepare()`, so an idle
  // connection costs nothing (buf/pooled.h).
  static constexpr bool kDefersMemory = [] {
    if constexpr (requires { B::kDefersMemory; }) {
      return static_cast<bool>(B::kDefersMemory);
    } else {
      return false;
    }
  }();

  // OPTIONAL: `static constexpr bool kZeroesEveryRead`. Default: false.
  // True when `prepare()` zeroes the unfilled region before every read
  // (buf/zeroed.h: the span<byte> world).
  static constexpr bool kZeroesEveryRead = [] {
    if constexpr (requires { B::kZeroesEveryRead; }) {
      return static_cast<bool>(B::kZeroesEveryRead);
    } else {
      return false;
    }
  }();

  // True when the buffer scatters over several segments (VectoredReadBuf);
  // callers and adapters use it to choose readv(2).
  static constexpr bool kVectored = VectoredReadBuf<B>;

  // OPTIONAL: `absl::Status B::prepare(size_t size_hint)`. Default: OK, no-op.
  // Called by the io layer *after* the source is ready and before the read,
  // so a deferring buffer can take memory only then. `size_hint` is the read
  // size the caller would like (0 = the buffer's own choice).
  // Errors: whatever the buffer reports, e.g. ResourceExhausted from a pool.
  static absl::Status prepare(B& b, size_t size_hint) {
    if constexpr (requires { b.prepare(size_hint); }) {
      return b.prepare(size_hint);
    } else {
      return absl::OkStatus();
    }
  }

  // OPTIONAL: `void B::release_idle()`. Default: no-op.
  // Called when the io layer is about to wait for readiness; a deferring
  // buffer with nothing filled gives its memory back.
  static void release_idle(B& b) {
    if constexpr (requires { b.release_idle(); }) b.release_idle();
  }

  // OPTIONAL: `void B::record_read(size_t bytes, size_t asked)`. Default:
  // no-op. Feedback after each read, for adaptive sizing (buf/adaptive_size.h).
  static void record_read(B& b, size_t bytes, size_t asked) {
    if constexpr (requires { b.record_read(bytes, asked); }) {
      b.record_read(bytes, asked);
    }
  }

  // OPTIONAL: `absl::Status B::reserve(size_t min_capacity, size_t keep_from)`.
  // Makes capacity() >= min_capacity while keeping the filled bytes from
  // `keep_from` on, which become the front of the filled region
  // (filled_size() drops by keep_from); one copy of those bytes. Errors
  // leave the buffer unchanged. buf/buffered.h grows a buffer with it.
  // Default: kReserves is false and reserve() returns FailedPrecondition
  // without touching the buffer: its capacity is fixed (callers compact).
  static constexpr bool kReserves = requires(B& b, size_t n) {
    { b.reserve(n, n) } -> std::same_as<absl::Status>;
  };
  static absl::Status reserve(B& b, size_t min_capacity, size_t keep_from) {
    if constexpr (kReserves) {
      return b.reserve(min_capacity, keep_from);
    } else {
      (void)b;
      (void)keep_from;
      return absl::FailedPreconditionError(
          "reserve: the buffer's capacity is fixed");
    }
  }

  // OPTIONAL: `size_t B::max_capacity() const`: the largest capacity
  // reserve() reaches. Default: SIZE_MAX for a buffer with reserve(),
  // capacity() otherwise.
  static size_t max_capacity(const B& b) {
    if constexpr (requires { { b.max_capacity() } -> std::same_as<size_t>; }) {
      return b.max_capacity();
    } else if constexpr (kReserves) {
      return static_cast<size_t>(-1);
    } else {
      return b.capacity();
    }
  }

  // OPTIONAL: `absl::StatusOr<PoolBytes> B::take_filled(size_t offset,
  // size_t length)`: hands filled bytes [offset, offset + length) out as
  // PoolBytes viewing the buffer's own block, without copying them
  // (buf/pooled.h). No default: kTakesFilled (default false) says whether B
  // has it; without it a caller copies the bytes out.
  static constexpr bool kTakesFilled = requires(B& b, size_t n) {
    b.take_filled(n, n);
  };
  template <class T = B>
    requires(kTakesFilled && std::same_as<T, B>)
  static auto take_filled(T& b, size_t offset, size_t length) {
    return b.take_filled(offset, length);
  }
};

// Calls `fn(std::span<const std::byte>)` for each non-empty filled region of
// `buf`, in order. Works for contiguous and vectored buffers alike.
template <ReadBuf B, class Fn>
void for_each_filled(const B& buf, Fn&& fn) {
  if constexpr (VectoredReadBuf<B>) {
    const size_t segments = buf.segment_count();
    for (size_t i = 0; i < segments; ++i) {
      std::span<const std::byte> seg = buf.filled_segment(i);
      if (!seg.empty()) fn(seg);
    }
  } else {
    static_assert(ContiguousReadBuf<B>,
                  "a ReadBuf must be contiguous (filled()) or vectored "
                  "(filled_segment(i))");
    if (buf.filled_size() != 0) fn(buf.filled());
  }
}

// Copies the front of `src` into `buf`'s unfilled space (across segments for
// a vectored buffer) and advances. Returns the bytes copied. One copy.
template <ReadBuf B>
size_t append(B& buf, std::span<const std::byte> src) {
  size_t copied = 0;
  while (copied < src.size()) {
    UninitSpan dst = buf.unfilled();
    if (dst.empty()) break;
    const size_t n = dst.write(src.subspan(copied));
    buf.advance(n);
    copied += n;
  }
  return copied;
}

// Bytes that can still be filled.
template <ReadBuf B>
size_t remaining(const B& buf) {
  return buf.capacity() - buf.filled_size();
}

}  // namespace readbuf

#endif  // READBUF_BUF_READ_BUF_H_
