// -----------------------------------------------------------------------------
// File: adapters/asio_stream.h
// -----------------------------------------------------------------------------
//
// Bridges between standalone Asio (1.22) and readbuf, both ways:
//
//   AsioStreamReader<Stream>  an Asio stream (tcp/local socket,
//                             posix::stream_descriptor, ...) as a readbuf
//                             reader. Sync: read, read_buf, readv, try_read.
//                             Async: async_read_buf(buf, token) waits for
//                             readiness first (`async_wait(wait_read)`), only
//                             then prepare()s the buffer -- a Pooled buffer
//                             takes its block now, not while idle -- and reads
//                             once without blocking straight into it (Asio's
//                             deferred-allocation pattern, reactor.qbk). Any
//                             completion token (callback, use_awaitable,
//                             deferred, use_future); the handler's executor
//                             and cancellation slot are honoured.
//   AsioReadStream<R>         a readbuf reader where Asio expects a
//                             SyncReadStream / AsyncReadStream
//                             (`read_some`, `async_read_some`), so
//                             asio::read / asio::async_read / Beast-style code
//                             can read from it.
//
// Errors keep their meaning both ways (StatusFromAsioError /
// AsioErrorFromStatus); EOF stays EOF: asio::error::eof <-> 0 bytes.
// Asio's buffers and a ReadBuf's unfilled memory are only written (recvmsg),
// so nothing is zeroed and nothing is copied. A non-blocking read never
// switches the stream's blocking mode per call (see AsioStreamReader).
//
// Dependency: this header is the only place (with its tests) that needs
// Asio; a workspace declares it with readbuf_asio_deps() (deps.bzl).
//
// Copies: 0. Zeroes: never.
//
// Example:
//
//   readbuf::AsioStreamReader reader(&socket);
//   readbuf::Pooled buf;                                 // holds nothing yet
//   reader.async_read_buf(buf, [&](asio::error_code ec, size_t n) { ... });
//   size_t n = co_await reader.async_read_buf(buf, asio::use_awaitable);
//
//   readbuf::AsioReadStream stream(io.get_executor(), readbuf::CordReader(c));
//   asio::async_read(stream, asio::dynamic_buffer(s), handler);

#ifndef READBUF_ADAPTERS_ASIO_STREAM_H_
#define READBUF_ADAPTERS_ASIO_STREAM_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/read_steps.h"
#include "adapters/internal/asio_info.h"
#include "asio.hpp"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"

namespace readbuf {

// The Status for an Asio error of `operation`: OK for no error;
// WouldBlockError() for would_block/try_again; Cancelled for
// operation_aborted; absl::ErrnoToStatus(errno, operation) (errno kept as a
// payload) for system errors; OutOfRange for eof (the adapters turn eof into
// 0 bytes before it gets here); Unknown with Asio's message otherwise.
absl::Status StatusFromAsioError(const asio::error_code& ec,
                                 std::string_view operation);

// The error_code for a Status: {} for OK; would_block for WouldBlockError();
// the exact errno when the Status carries one (readbuf's system-call errors
// do); operation_aborted for Cancelled; otherwise the errno closest to the
// status code (EINVAL, ENOENT, EACCES, ENOMEM, ETIMEDOUT, ECONNRESET for
// Unavailable, ENOSYS, EIO for the rest).
asio::error_code AsioErrorFromStatus(const absl::Status& status);

// AsioStreamReader<Stream>
//
// Stream is the Asio stream (by value), or Stream* to borrow one.
// REQUIRES: read_some(MutableBufferSequence, error_code&); for try_read,
// either native_handle() (sockets, posix::stream_descriptor) or
// non_blocking(bool); for async_read_buf also get_executor() and
// async_wait(wait_read, handler).
//
// Blocking mode: try_read and async_read_buf never switch the stream's
// blocking mode per read (no ioctl(FIONBIO) around each read):
//   - a socket (derived from asio::socket_base) is read with
//     recvmsg(MSG_DONTWAIT): its mode is never touched;
//   - another fd-based stream (posix::stream_descriptor: pipes, ttys) is put
//     into non-blocking mode once, with native_non_blocking(true) -- Asio's
//     own internal flag, which its async operations set anyway -- and is then
//     read with readv(2). Asio's synchronous read_some still blocks on it (it
//     polls on EAGAIN unless the *user* asked for non_blocking(true)), so
//     read / read_buf / readv keep their blocking meaning;
//   - a stream with neither (a test double, an in-memory stream) is switched
//     with non_blocking(true) and back around each try_read, as before.
//
// No free space: read_buf and try_read return FailedPrecondition ("buffer
// has no free space") when `b` has nothing unfilled, so a 0 always means
// EOF; async_read_buf completes with asio::error::no_buffer_space (ENOBUFS).
//
// Thread safety: as the stream (one thread, or its strand). One read at a
// time.
template <class Stream>
class AsioStreamReader : public adapters_internal::AsioStreamReaderInfo {
 public:
  using StreamType = adapters_internal::Inner<Stream>;

  explicit AsioStreamReader(Stream stream) : stream_(std::move(stream)) {}

  StreamType& stream() { return stream_.get(); }

  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    return ReadSome(asio::mutable_buffer(s.data(), s.size()), s.size());
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    std::array<asio::mutable_buffer, adapters_internal::kMaxIovecs> bufs;
    size_t count = 0;
    size_t total = 0;
    for (const iovec& v : iov) {
      if (count == bufs.size()) break;
      bufs[count++] = asio::mutable_buffer(v.iov_base, v.iov_len);
      total += v.iov_len;
    }
    return ReadSome(std::span<const asio::mutable_buffer>(bufs.data(), count),
                    total);
  }

  // One read_some straight into b's unfilled memory (all free segments of
  // a vectored buffer); advances b. 0 = EOF.
  // Errors: FailedPrecondition when b has no free space; the stream's error
  // (StatusFromAsioError, naming "read_some").
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    std::array<iovec, adapters_internal::kMaxIovecs> iov;
    const size_t count = adapters_internal::UnfilledIovecs(b, iov);
    if (count == 0) return NoFreeSpaceError("read_buf");
    absl::StatusOr<size_t> n = readv(std::span<const iovec>(iov.data(), count));
    if (n.ok()) b.advance(*n);
    return n;
  }

  // Like read_buf, but WouldBlockError() instead of blocking. Costs one
  // system call (recvmsg or readv) and no mode switch; see "Blocking mode".
  // Errors: as read_buf; WouldBlockError() when no data is ready.
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    std::array<iovec, adapters_internal::kMaxIovecs> iov;
    const size_t count = adapters_internal::UnfilledIovecs(b, iov);
    if (count == 0) return NoFreeSpaceError("try_read");
    absl::StatusOr<size_t> n =
        TryReadv(std::span<const iovec>(iov.data(), count));
    if (n.ok()) b.advance(*n);
    return n;
  }

  // async_read_buf(b, token)
  //
  // Waits for readiness (`async_wait(wait_read)`), then prepare()s `b` (a
  // Pooled buffer takes its block only now), then reads once without
  // blocking into b's unfilled memory and advances b. A spurious wake-up
  // (would-block) gives a deferring buffer's memory back and waits again.
  //
  // Completion signature: void(asio::error_code ec, std::size_t n), as
  // async_read_some: n bytes were appended to b's filled region;
  // asio::error::eof (n == 0) at end of stream; asio::error::no_buffer_space
  // when b has no free space (at once, without waiting, for a buffer that
  // does not defer its memory); the prepare() error (e.g. ENOMEM from a
  // capped pool) or the read's errno as AsioErrorFromStatus maps them.
  //
  // Token: any completion token -- a callback, asio::use_awaitable,
  // asio::experimental::deferred (Asio 1.22's spelling of asio::deferred),
  // asio::use_future, asio::experimental::as_tuple(...), bind_executor(...)
  // -- through asio::async_initiate (by way of asio::async_compose, which
  // keeps the stream's executor busy while the read is pending). The
  // default token is the stream executor's default (a callback otherwise).
  //
  // Executor: every step after the wait, and the completion, run on the
  // handler's associated executor (a strand, another io_context, ...),
  // defaulting to the stream's; the completion never runs inside this call.
  //
  // Cancellation: the handler's associated cancellation slot is honoured
  // for terminal, partial and total cancellation (nothing is read before
  // the wait ends, so all three are safe). An emitted signal cancels the
  // pending wait, and the operation completes with
  // asio::error::operation_aborted and n == 0; nothing of it runs afterwards:
  // b is not prepared (a Pooled buffer takes no block), nothing is read. A
  // signal that arrives after the wait completed but before the read ran
  // also completes with operation_aborted and reads nothing.
  //
  // REQUIRES: b and this reader outlive the operation; no other read on the
  // stream until it completes.
  // Copies made: none (the kernel writes into b's memory).
  // (S only delays naming S::executor_type until the call: a stream without
  // async support still has the synchronous members.)
  template <ReadBuf B, class S = StreamType,
            ASIO_COMPLETION_TOKEN_FOR(void(asio::error_code, std::size_t)) Token =
                asio::default_completion_token_t<typename S::executor_type>>
  auto async_read_buf(
      B& b,
      Token&& token = asio::default_completion_token_t<typename S::executor_type>()) {
    return asio::async_compose<Token, void(asio::error_code, std::size_t)>(
        ReadBufOp<B>{this, &b}, token, stream());
  }

 private:
  // The fd-based stream kinds (see "Blocking mode").
  static constexpr bool kIsSocket =
      std::is_base_of_v<asio::socket_base, StreamType> &&
      requires(StreamType& s) { s.native_handle(); };
  static constexpr bool kHasNativeNonBlocking =
      requires(StreamType& s, asio::error_code& ec) {
        s.native_handle();
        s.native_non_blocking(true, ec);
        { s.native_non_blocking() } -> std::convertible_to<bool>;
      };

  static absl::Status NoFreeSpaceError(std::string_view operation) {
    return absl::FailedPreconditionError(
        std::string(operation) +
        ": the buffer has no free space (clear() it or give a larger one)");
  }

  // One read into `iov` that never blocks, without switching the stream's
  // mode per call. 0 = EOF.
  absl::StatusOr<size_t> TryReadv(std::span<const iovec> iov) {
    StreamType& s = stream();
    if constexpr (kIsSocket || kHasNativeNonBlocking) {
      if constexpr (!kIsSocket) {
        if (!s.native_non_blocking()) {  // once per stream, not per read
          asio::error_code ec;
          s.native_non_blocking(true, ec);
          if (ec) return StatusFromAsioError(ec, "native_non_blocking");
        }
      }
      const int fd = static_cast<int>(s.native_handle());
      const size_t count = std::min<size_t>(iov.size(), IOV_MAX);
      ssize_t n;
      do {
        if constexpr (kIsSocket) {
          msghdr msg{};
          msg.msg_iov = const_cast<iovec*>(iov.data());
          msg.msg_iovlen = count;
          n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
        } else {
          n = ::readv(fd, iov.data(), static_cast<int>(count));
        }
      } while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return WouldBlockError();
      }
      if (n < 0) {
        return StatusFromAsioError(
            asio::error_code(errno, asio::system_category()),
            kIsSocket ? "recvmsg" : "readv");
      }
      return static_cast<size_t>(n);
    } else {
      const bool was_non_blocking = s.non_blocking();
      if (!was_non_blocking) s.non_blocking(true);
      absl::StatusOr<size_t> n = readv(iov);
      if (!was_non_blocking) s.non_blocking(false);
      return n;
    }
  }

  template <class Buffers>
  absl::StatusOr<size_t> ReadSome(const Buffers& buffers, size_t total) {
    if (total == 0) return 0;
    asio::error_code ec;
    const size_t n = stream().read_some(buffers, ec);
    if (ec == asio::error::eof) return 0;  // EOF stays EOF
    if (ec) return StatusFromAsioError(ec, "read_some");
    return n;
  }

  // The composed operation behind async_read_buf (asio::async_compose
  // calls it with `self`, the intermediate handler that carries the final
  // handler's executor, allocator and cancellation state).
  template <ReadBuf B>
  struct ReadBufOp {
    AsioStreamReader* reader;
    B* buf;
    bool started = false;
    asio::error_code early_error{};

    // First call (from the initiating function), or the posted early
    // completion.
    template <class Self>
    void operator()(Self& self) {
      if (started) {
        self.complete(early_error, 0);
        return;
      }
      started = true;
      self.reset_cancellation_state(asio::enable_total_cancellation());
      if constexpr (!read_buf_traits<B>::kDefersMemory) {
        if (buf->filled_size() >= buf->capacity()) {
          early_error = asio::error::no_buffer_space;
          asio::post(std::move(self));  // never complete inside the call
          return;
        }
      }
      Wait(self);
    }

    // The wait ended.
    template <class Self>
    void operator()(Self& self, asio::error_code ec) {
      if (!ec && self.get_cancellation_state().cancelled() !=
                     asio::cancellation_type::none) {
        ec = asio::error::operation_aborted;
      }
      if (ec) {
        self.complete(ec, 0);
        return;
      }
      if (absl::Status prepared = read_buf_traits<B>::prepare(*buf, 0);
          !prepared.ok()) {
        self.complete(AsioErrorFromStatus(prepared), 0);
        return;
      }
      if (buf->filled_size() >= buf->capacity()) {
        self.complete(asio::error::no_buffer_space, 0);
        return;
      }
      absl::StatusOr<size_t> n = reader->try_read(*buf);
      if (!n.ok() && IsWouldBlock(n.status())) {
        read_buf_traits<B>::release_idle(*buf);
        Wait(self);
        return;
      }
      if (!n.ok()) {
        self.complete(AsioErrorFromStatus(n.status()), 0);
        return;
      }
      if (*n == 0) {
        self.complete(asio::error::eof, 0);
        return;
      }
      self.complete(asio::error_code(), *n);
    }

    template <class Self>
    void Wait(Self& self) {
      reader->stream().async_wait(StreamType::wait_read, std::move(self));
    }
  };

  adapters_internal::InnerHolder<Stream> stream_;
};

template <class Stream>
AsioStreamReader(Stream) -> AsioStreamReader<Stream>;

// AsioReadStream<R>
//
// A SyncReadStream and AsyncReadStream over readbuf reader R (by value, or
// R* to borrow). async_read_some runs the read on the executor, so R should
// not block there for long: an in-memory reader (CordReader), data known to
// be ready, or a blocking reader on a thread-pool executor. A would-block
// from R completes the operation with asio::error::would_block.
//
// Thread safety: as R (one operation at a time).
template <class R>
  requires SpanReader<adapters_internal::Inner<R>> ||
           BufReader<adapters_internal::Inner<R>> ||
           VectoredReader<adapters_internal::Inner<R>>
class AsioReadStream : public adapters_internal::AsioReadStreamInfo {
 public:
  using executor_type = asio::any_io_executor;
  using InnerReader = adapters_internal::Inner<R>;

  AsioReadStream(executor_type executor, R reader)
      : executor_(std::move(executor)), reader_(std::move(reader)) {}

  executor_type get_executor() { return executor_; }
  InnerReader& inner() { return reader_.get(); }

  // SyncReadStream. Reads some bytes into `buffers` (all of them when R has
  // readv, else the first non-empty one). 0 bytes with ec == eof at EOF;
  // 0 bytes, no error, when the buffers are empty.
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, asio::error_code& ec) {
    ec = {};
    std::array<iovec, adapters_internal::kMaxIovecs> iov;
    size_t count = 0;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && count < iov.size(); ++it) {
      const asio::mutable_buffer b(*it);
      if (b.size() == 0) continue;
      iov[count++] = iovec{b.data(), b.size()};
    }
    if (count == 0) return 0;
    absl::StatusOr<size_t> n = ReadInto(std::span<const iovec>(iov.data(), count));
    if (!n.ok()) {
      ec = AsioErrorFromStatus(n.status());
      return 0;
    }
    if (*n == 0) ec = asio::error::eof;
    return *n;
  }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    asio::error_code ec;
    const size_t n = read_some(buffers, ec);
    asio::detail::throw_error(ec, "read_some");
    return n;
  }

  // AsyncReadStream: completes with (error_code, bytes) through the
  // handler's associated executor.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code, size_t)>(
        [this](auto handler, const MutableBufferSequence& bufs) {
          asio::post(executor_, [this, bufs, handler = std::move(handler)]() mutable {
            asio::error_code ec;
            const size_t n = read_some(bufs, ec);
            auto ex = asio::get_associated_executor(handler, executor_);
            asio::dispatch(ex, [handler = std::move(handler), ec, n]() mutable {
              std::move(handler)(ec, n);
            });
          });
        },
        token, buffers);
  }

 private:
  absl::StatusOr<size_t> ReadInto(std::span<const iovec> iov) {
    InnerReader& r = inner();
    if constexpr (VectoredReader<InnerReader>) {
      return adapters_internal::CheckReported(
          r.readv(iov), adapters_internal::TotalSize(iov), "readv");
    } else if constexpr (BufReader<InnerReader>) {
      return adapters_internal::ReadIntoRegion(
          r, UninitSpan(iov[0].iov_base, iov[0].iov_len));
    } else {
      // Asio's buffers are the caller's writable memory (vectors, strings,
      // arrays), handed to the span reader as they are.
      return adapters_internal::CheckReported(
          r.read(std::span<std::byte>(static_cast<std::byte*>(iov[0].iov_base),
                                      iov[0].iov_len)),
          iov[0].iov_len, "read");
    }
  }

  executor_type executor_;
  adapters_internal::InnerHolder<R> reader_;
};

template <class R>
AsioReadStream(asio::any_io_executor, R) -> AsioReadStream<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ASIO_STREAM_H_
