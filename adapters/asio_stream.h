// -----------------------------------------------------------------------------
// File: adapters/asio_stream.h
// -----------------------------------------------------------------------------
//
// Bridges between standalone Asio (1.22) and readbuf, both ways:
//
//   AsioStreamReader<Stream>  an Asio stream (tcp/local socket,
//                             posix::stream_descriptor, ...) as a readbuf
//                             reader. Sync: read, read_buf, readv, try_read.
//                             Async: async_read_buf(buf, handler) waits for
//                             readiness first (`async_wait(wait_read)`), only
//                             then prepare()s the buffer -- a Pooled buffer
//                             takes its block now, not while idle -- and reads
//                             with a non-blocking read_some straight into it
//                             (Asio's deferred-allocation pattern, reactor.qbk).
//   AsioReadStream<R>         a readbuf reader where Asio expects a
//                             SyncReadStream / AsyncReadStream
//                             (`read_some`, `async_read_some`), so
//                             asio::read / asio::async_read / Beast-style code
//                             can read from it.
//
// Errors keep their meaning both ways (StatusFromAsioError /
// AsioErrorFromStatus); EOF stays EOF: asio::error::eof <-> 0 bytes.
// Asio's buffers and a ReadBuf's unfilled memory are only written (recvmsg),
// so nothing is zeroed and nothing is copied.
//
// Copies: 0. Zeroes: never.
//
// Example:
//
//   readbuf::AsioStreamReader reader(&socket);
//   readbuf::Pooled buf;                                 // holds nothing yet
//   reader.async_read_buf(buf, [&](absl::StatusOr<size_t> n) { ... });
//
//   readbuf::AsioReadStream stream(io.get_executor(), readbuf::CordReader(c));
//   asio::async_read(stream, asio::dynamic_buffer(s), handler);

#ifndef READBUF_ADAPTERS_ASIO_STREAM_H_
#define READBUF_ADAPTERS_ASIO_STREAM_H_

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
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
// REQUIRES: read_some(MutableBufferSequence, error_code&), and for try_read
// and async_read_buf, non_blocking(bool) and async_wait(wait_read, handler)
// (sockets and descriptors have them).
//
// Thread safety: as the stream (one thread, or its strand).
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
  // a vectored buffer); advances b. 0 = EOF, or b is full.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    std::array<iovec, adapters_internal::kMaxIovecs> iov;
    const size_t count = adapters_internal::UnfilledIovecs(b, iov);
    if (count == 0) return 0;
    absl::StatusOr<size_t> n = readv(std::span<const iovec>(iov.data(), count));
    if (n.ok()) b.advance(*n);
    return n;
  }

  // Like read_buf, but WouldBlockError() instead of blocking.
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    StreamType& s = stream();
    const bool was_non_blocking = s.non_blocking();
    if (!was_non_blocking) s.non_blocking(true);
    absl::StatusOr<size_t> n = read_buf(b);
    if (!was_non_blocking) s.non_blocking(false);
    return n;
  }

  // Waits for readiness, then prepare()s `b` (a Pooled buffer takes its
  // block only now), then reads without blocking into it; calls
  // handler(absl::StatusOr<size_t>) (0 = EOF) through the stream's
  // executor. A spurious wake-up (would_block) waits again.
  // REQUIRES: b and this reader outlive the operation.
  template <ReadBuf B, class Handler>
  void async_read_buf(B& b, Handler handler) {
    stream().async_wait(
        asio::socket_base::wait_read,
        [this, &b, handler = std::move(handler)](
            const asio::error_code& ec) mutable {
          if (ec) {
            handler(absl::StatusOr<size_t>(StatusFromAsioError(ec, "async_wait")));
            return;
          }
          absl::Status prepared = read_buf_traits<B>::prepare(b, 0);
          if (!prepared.ok()) {
            handler(absl::StatusOr<size_t>(prepared));
            return;
          }
          absl::StatusOr<size_t> n = try_read(b);
          if (!n.ok() && IsWouldBlock(n.status())) {
            read_buf_traits<B>::release_idle(b);
            async_read_buf(b, std::move(handler));
            return;
          }
          handler(std::move(n));
        });
  }

 private:
  template <class Buffers>
  absl::StatusOr<size_t> ReadSome(const Buffers& buffers, size_t total) {
    if (total == 0) return 0;
    asio::error_code ec;
    const size_t n = stream().read_some(buffers, ec);
    if (ec == asio::error::eof) return 0;  // EOF stays EOF
    if (ec) return StatusFromAsioError(ec, "read_some");
    return n;
  }

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
