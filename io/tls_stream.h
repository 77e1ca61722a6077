// -----------------------------------------------------------------------------
// File: io/tls_stream.h
// -----------------------------------------------------------------------------
//
// TlsStream<S>: TLS over a stream on the reactor (TcpStream, UnixStream, or
// any stream with async_fd(), shutdown(int) and close()), with deferred
// memory. The session talks to the non-blocking fd through a BIO of its own:
// when the kernel says EAGAIN the BIO records it on the AsyncFd and the
// operation suspends until the fd is ready in that direction -- it never
// spins. Reads wait for readiness *before* they ask the buffer policy for
// memory, and every context sets SSL_MODE_RELEASE_BUFFERS, so a TlsStream
// waiting in read_into() with a Pooled buffer holds no read buffer and no
// TLS record buffers: only the session's keys and state.
//
//   server / client handshake  handshake() (SNI and ALPN; the client checks
//                              the chain and the server's name)
//   read_into(tls, buf)        any ReadBuf policy; the plaintext is written
//                              straight into the policy's memory by SSL_read
//                              (which writes and never reads: Uninit is never
//                              zeroed); a vectored buffer is filled segment
//                              by segment. 0 = the peer's close_notify.
//   write / write_all / writev / writev_all
//   shutdown()                 sends close_notify
//   graceful_close(tls, d)     close_notify, FIN, drain to the peer's
//                              close_notify or EOF (at most `d`), close
//
// Copies: reads none (the TLS library decrypts into the caller's buffer);
// writes none but the encryption itself, except writev of several small
// iovecs, which gathers up to 16 KiB into one pool block first (one copy) so
// they leave in one record.
//
// Errors name what failed, with the TLS library's reason (ERR_get_error
// strings) and, for a client, the certificate verification result:
//   Unauthenticated  the server's certificate did not verify (the reason,
//                    e.g. "hostname mismatch (expected example.com)",
//                    "self-signed certificate", "certificate has expired")
//   DataLoss         the peer closed the connection without close_notify
//                    (a truncated TLS stream), or a record failed to decrypt
//                    or parse after the handshake
//   Unavailable      the handshake failed (an alert from the peer, no common
//                    version or cipher, a malformed message)
//   errno statuses   the socket's own errors ("recv(fd=7): Connection reset
//                    by peer")
//   FailedPrecondition  an operation the session's state does not allow
//                    (read before the handshake, write after a cancelled
//                    write left a record half sent)
// Once a session has failed, every later operation returns the same error.
//
// Cancellation (a cancelled task, or timeout() around any operation):
//   read_into   reads nothing; the session stays usable (a partial record
//               stays buffered inside the session for the next read).
//   handshake   the session is left mid-handshake: call handshake() again to
//               continue it, or close.
//   write*      if it was waiting before the record was started, nothing was
//               sent and the stream stays usable; if a record was half sent,
//               later writes and shutdown() fail with FailedPrecondition
//               (what reached the peer is unknown: close the stream). Reads
//               keep working.
//   shutdown    close_notify may be partly sent; close the stream.
//
// Example:
//
//   absl::StatusOr<readbuf::TlsStream<readbuf::TcpStream>> tls =
//       readbuf::TlsStream<readbuf::TcpStream>::Server(std::move(conn), ctx);
//   if (!tls.ok()) co_return;
//   if (absl::Status s = co_await tls->handshake(); !s.ok()) co_return;
//   readbuf::Pooled buf;
//   for (;;) {
//     absl::StatusOr<size_t> n = co_await readbuf::read_into(*tls, buf);
//     if (!n.ok() || *n == 0) break;                  // error / close_notify
//     if (!(co_await readbuf::write_filled(*tls, buf)).ok()) break;
//     buf.clear();
//   }
//   co_await readbuf::graceful_close(*tls, absl::Seconds(2));
//
// Thread safety: a TlsStream is used on one core, by one task at a time for
// reading and one for writing (handshake and shutdown take both). A read that
// must send (a TLS 1.3 KeyUpdate reply into a full socket buffer) while
// another task waits to write fails with FailedPrecondition instead of
// waiting. It must not be moved while an operation is in progress.

#ifndef READBUF_IO_TLS_STREAM_H_
#define READBUF_IO_TLS_STREAM_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/internal/read_guard.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "io/async_fd.h"
#include "io/internal/core.h"
#include "io/internal/fd_state.h"
#include "io/read_into.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"

// From <openssl/ssl.h>; declared here so users need not include it.
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace readbuf {

namespace io_internal {

// What a TLS step needs before it can go on.
enum class TlsWait : std::uint8_t { kNone, kReadable, kWritable };

// The outcome of one SSL_read / SSL_write.
struct TlsIo {
  enum Kind : std::uint8_t { kBytes, kEof, kWantRead, kWantWrite, kError };
  Kind kind = kError;
  size_t bytes = 0;
};

// TlsSession
//
// The non-template part of TlsStream: the SSL object, its BIO over the
// AsyncFd, and the session's state. Every call takes the AsyncFd to use for
// that call (the BIO reads and writes it, and records EAGAIN on it), so the
// session itself can move with its stream.
//
// Thread safety: as TlsStream.
class TlsSession {
 public:
  TlsSession() = default;
  // Makes the SSL object and its BIO; nothing is sent yet. `server_name` (a
  // client's): sent as SNI unless it is an IP literal, and checked against
  // the certificate when the context verifies.
  // Errors: InvalidArgument for a verifying client without a server name,
  // or a context of the wrong side; the TLS library's allocation errors.
  static absl::StatusOr<TlsSession> Create(const TlsContext& ctx, bool server,
                                           std::string_view server_name);
  TlsSession(TlsSession&& o) noexcept;
  TlsSession& operator=(TlsSession&& o) noexcept;
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  ~TlsSession();

  bool valid() const { return ssl_ != nullptr; }
  bool is_server() const { return server_; }
  bool handshake_done() const { return handshake_done_; }
  // The peer's close_notify has been read.
  bool eof() const { return eof_; }
  // The session failed; error() says why.
  bool failed() const { return !error_.ok(); }
  const absl::Status& error() const { return error_; }
  // A write that must be retried with the same bytes is under way (a record
  // is partly sent).
  bool write_in_flight() const { return write_in_flight_; }
  // The peer closed the TCP connection without close_notify.
  bool peer_closed_without_close_notify() const;

  // One non-blocking handshake step: kNone with *status set when the
  // handshake is done or failed, else what to wait for.
  TlsWait HandshakeStep(AsyncFd& fd, absl::Status* status);
  // One SSL_read into [dst, dst + len) / one SSL_write of [src, src + len).
  // REQUIRES: len > 0.
  TlsIo Read(AsyncFd& fd, void* dst, size_t len);
  TlsIo Write(AsyncFd& fd, const void* src, size_t len);
  // Sends close_notify: kNone with *status set once it is sent (or the
  // session cannot send it), else what to wait for.
  TlsWait ShutdownStep(AsyncFd& fd, absl::Status* status);

  // Why a read cannot start now (not handshaken, failed); OK if it can.
  absl::Status ReadableState() const;
  // Why a write cannot start now; OK if it can.
  absl::Status WritableState() const;
  // Decrypted bytes or unprocessed record bytes are buffered in the session,
  // so a read can make progress without waiting for the fd.
  bool HasBuffered() const;
  // The last Read/Write/HandshakeStep met EAGAIN (the fd is marked not ready).
  bool blocked() const { return blocked_; }
  // A write was cancelled with a record half sent: writes fail from now on.
  void AbandonWrite();

  // The negotiated ALPN protocol ("" if none).
  std::string_view alpn_protocol() const;
  // The SNI name the client sent (server) or asked for (client); "" if none.
  std::string_view server_name() const;
  // "TLSv1.3", "TLSv1.2"; "" before the handshake.
  std::string_view protocol_version() const;
  // The cipher suite's standard name; "" before the handshake.
  std::string_view cipher() const;
  // The SSL object, for what this class does not offer.
  SSL* native_handle() const { return ssl_; }

 private:
  friend struct TlsBioAccess;
  void Bind(AsyncFd& fd);
  absl::Status Fail(const char* op, int ssl_error);
  std::string Where(const char* op) const;

  SSL* ssl_ = nullptr;
  std::shared_ptr<const TlsContext::Impl> ctx_;  // SNI/ALPN callback state
  AsyncFd* fd_ = nullptr;                        // during a call
  absl::Status error_;                           // sticky, once failed
  int sys_errno_ = 0;                            // of the last recv/send
  bool server_ = false;
  bool handshake_done_ = false;
  bool eof_ = false;               // close_notify read
  bool peer_eof_ = false;          // recv returned 0
  bool blocked_ = false;           // EAGAIN during the last call
  bool write_in_flight_ = false;   // SSL_write must be retried
  bool write_abandoned_ = false;   // ... and will not be
  bool close_notify_sent_ = false;
  const char* sys_op_ = "";        // "read" / "send" for sys_errno_
  std::string expected_name_;      // a client's server_name, for messages
};

// One read step of read_into(TlsStream): readiness first, then the policy's
// memory, then SSL_read into it until it is full or nothing more is there
// without waiting. kNone with *out set when done; else what to wait for
// (the buffer then holds no memory it did not hold before, if it defers).
template <ReadBuf B>
TlsWait TlsReadStep(TlsSession& s, AsyncFd& fd, B& buf, size_t max,
                    absl::StatusOr<size_t>* out) {
  if (absl::Status st = s.ReadableState(); !st.ok()) {
    read_buf_traits<B>::release_idle(buf);
    *out = std::move(st);
    return TlsWait::kNone;
  }
  if (s.eof()) {
    read_buf_traits<B>::release_idle(buf);
    *out = size_t{0};
    return TlsWait::kNone;
  }
  // Readiness first: nothing buffered and nothing to read means wait, and a
  // deferring buffer takes no memory for that.
  if (!s.HasBuffered() && !fd.is_readable()) {
    read_buf_traits<B>::release_idle(buf);
    return TlsWait::kReadable;
  }
  if (absl::Status st = read_buf_traits<B>::prepare(buf, max); !st.ok()) {
    *out = std::move(st);
    return TlsWait::kNone;
  }
  const size_t offered = max != 0 ? std::min(max, remaining(buf)) : remaining(buf);
  if (offered == 0) {
    *out = absl::FailedPreconditionError(
        "TLS read_into: the buffer has no free space (clear() it or give a larger one)");
    return TlsWait::kNone;
  }
  size_t total = 0;
  TlsWait wait = TlsWait::kReadable;
  // Bounded: each round either delivers bytes, consumes record bytes from
  // the socket, or meets EAGAIN (which ends the loop).
  for (int round = 0; round < 1024; ++round) {
    UninitSpan dst = buf.unfilled();  // a vectored buffer: its current segment
    if (max != 0) dst = dst.subspan(0, max - total);
    if (dst.empty()) break;
    buf_internal::ReadGuard guard(buf);
    const TlsIo io = s.Read(fd, dst.write_ptr(), dst.size());
    if (io.kind == TlsIo::kBytes) {
      buf.advance(io.bytes);
      guard.Verify(io.bytes);
      total += io.bytes;
      if (!s.HasBuffered() && !fd.is_readable()) break;  // more needs a wait
      continue;
    }
    if (io.kind == TlsIo::kWantRead && !s.blocked()) continue;  // a non-data record
    if (io.kind == TlsIo::kEof && total == 0) {
      read_buf_traits<B>::release_idle(buf);
      *out = size_t{0};
      return TlsWait::kNone;
    }
    if (io.kind == TlsIo::kError && total == 0) {
      read_buf_traits<B>::release_idle(buf);
      *out = s.error();
      return TlsWait::kNone;
    }
    if (io.kind == TlsIo::kWantWrite) wait = TlsWait::kWritable;
    break;  // EOF or an error after bytes: the next read reports it
  }
  if (total == 0) {
    read_buf_traits<B>::release_idle(buf);
    return wait;
  }
  read_buf_traits<B>::record_read(buf, total, offered);
  *out = total;
  return TlsWait::kNone;
}

// The awaitable behind read_into(TlsStream): no coroutine frame of its own,
// like read_into(TcpStream). It waits in the fd's read slot (or, when the
// session must send first, its write slot); a wake-up retries the step on
// the core and resumes the caller only with a result.
template <ReadBuf B>
class [[nodiscard]] TlsReadAwaiter {
 public:
  TlsReadAwaiter(TlsSession& session, AsyncFd& fd, B& buf, size_t max)
      : session_(session), fd_(fd), fs_(AsyncFdAccess::State(fd)), buf_(buf), max_(max) {
    node_.self = this;
  }
  // Movable until awaited (timeout() takes it by value).
  TlsReadAwaiter(TlsReadAwaiter&& o) noexcept : TlsReadAwaiter(o.session_, o.fd_, o.buf_, o.max_) {
    READBUF_DCHECK(!o.hold_.held(), "moving a TLS read_into that is waiting");
  }
  TlsReadAwaiter& operator=(TlsReadAwaiter&&) = delete;
  ~TlsReadAwaiter() {
    // Destroyed while waiting (the task was cancelled): unhook. Nothing was
    // read; a partial record stays buffered in the session.
    if (hold_.held() && !hold_.closed() && slot() == &node_) slot() = nullptr;
  }

  bool await_ready() { return Attempt(); }

  bool await_suspend(std::coroutine_handle<> h) {
    node_.h = h;
    node_.scope = CurrentCore()->current_scope();
    node_.on_run = &OnReady;
    return Wait();
  }

  absl::StatusOr<size_t> await_resume() { return std::move(result_); }

 private:
  struct Node : RunNode {
    TlsReadAwaiter* self = nullptr;
  };

  RunNode*& slot() { return wait_ == TlsWait::kWritable ? fs_->write_waiter : fs_->read_waiter; }

  // Runs read steps until there is a result (true) or a wait is needed
  // (false; wait_ says which direction).
  bool Attempt() {
    if (fs_ == nullptr) {
      result_ = absl::FailedPreconditionError("TLS read_into: the stream is closed");
      return true;
    }
    for (;;) {
      wait_ = TlsReadStep(session_, fd_, buf_, max_, &result_);
      if (wait_ == TlsWait::kNone) return true;
      if (absl::Status s = RegisterOnThisCore(fs_); !s.ok()) {
        result_ = std::move(s);
        return true;
      }
      // Registration may report readiness synchronously on some backends.
      const bool ready = wait_ == TlsWait::kWritable ? fd_.is_writable() : fd_.is_readable();
      if (!ready) return false;
    }
  }

  // Takes the slot; false (do not suspend, result_ set) if another task
  // holds it.
  bool Wait() {
    if (slot() != nullptr) {
      result_ = absl::FailedPreconditionError(
          wait_ == TlsWait::kWritable
              ? "TLS read_into: the session must send (a TLS 1.3 key update reply) while "
                "another task waits to write on the same stream"
              : "TLS read_into: another task is reading the same stream");
      return false;
    }
    slot() = &node_;
    fs_->NoteSuspended(wait_ == TlsWait::kWritable);
    hold_.Take(fs_);
    return true;
  }

  static void OnReady(RunNode* n) {
    TlsReadAwaiter* self = static_cast<Node*>(n)->self;
    if (self->hold_.closed()) {
      self->result_ = self->fs_->ClosedError("TLS read");
    } else if (!self->Attempt()) {
      if (self->Wait()) return;  // spurious wake-up: wait again
    }
    self->hold_.Release();
    self->node_.h.resume();
  }

  TlsSession& session_;
  AsyncFd& fd_;
  FdState* fs_;
  B& buf_;
  size_t max_;
  TlsWait wait_ = TlsWait::kNone;
  absl::StatusOr<size_t> result_ = size_t{0};
  FdHold hold_;  // while suspended
  Node node_;
};

// Whether a task already waits on `fd` in the given direction.
inline bool DirectionBusy(AsyncFd& fd, bool write) {
  FdState* fs = AsyncFdAccess::State(fd);
  return fs != nullptr && (write ? fs->write_waiter : fs->read_waiter) != nullptr;
}

}  // namespace io_internal

// A stream TlsStream can run over.
template <class S>
concept TlsTransport = HasAsyncFd<S> && requires(S& s) {
  { s.shutdown(SHUT_WR) } -> std::same_as<absl::Status>;
  s.close();
};

template <TlsTransport S>
class TlsStream {
 public:
  TlsStream() = default;
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;

  // Wraps `stream` for a server handshake with `ctx` (a server context).
  // Nothing is sent until handshake().
  // Errors: as TlsSession::Create.
  static absl::StatusOr<TlsStream> Server(S stream, const TlsContext& ctx) {
    absl::StatusOr<io_internal::TlsSession> s = io_internal::TlsSession::Create(ctx, true, {});
    if (!s.ok()) return s.status();
    return TlsStream(std::move(stream), *std::move(s));
  }

  // Wraps `stream` for a client handshake with `ctx` (a client context).
  // `server_name` goes out as SNI (unless it is an IP literal) and is what
  // the certificate must name when the context verifies.
  // Errors: InvalidArgument for a verifying context and no server_name.
  static absl::StatusOr<TlsStream> Client(S stream, const TlsContext& ctx,
                                          std::string_view server_name) {
    absl::StatusOr<io_internal::TlsSession> s =
        io_internal::TlsSession::Create(ctx, false, server_name);
    if (!s.ok()) return s.status();
    return TlsStream(std::move(stream), *std::move(s));
  }

  // Runs the handshake (either side); OK once it is complete. Errors: see
  // the file comment. Cancellation: call it again to continue, or close.
  // REQUIRES: on the stream's core; no other operation in progress.
  Task<absl::Status> handshake() {
    AsyncFd& fd = stream_.async_fd();
    for (;;) {
      absl::Status status;
      const io_internal::TlsWait w = session_.HandshakeStep(fd, &status);
      if (w == io_internal::TlsWait::kNone) co_return status;
      absl::Status ready = co_await (w == io_internal::TlsWait::kWritable ? fd.writable()
                                                                          : fd.readable());
      if (!ready.ok()) co_return ready;
    }
  }

  // Encrypts and sends some of `data` (at least one byte unless it is empty;
  // at most one record, 16 KiB). `data` must stay alive and unchanged until
  // the Task is done.
  Task<absl::StatusOr<size_t>> write(std::span<const std::byte> data) {
    co_return co_await WriteSome(data.data(), data.size());
  }

  // Sends all of `data` or fails.
  Task<absl::Status> write_all(std::span<const std::byte> data) {
    size_t done = 0;
    while (done < data.size()) {
      absl::StatusOr<size_t> n = co_await WriteSome(data.data() + done, data.size() - done);
      if (!n.ok()) co_return n.status();
      done += *n;
    }
    co_return absl::OkStatus();
  }
  Task<absl::Status> write_all(std::string_view text) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())));
  }

  // Sends some bytes from `iov`, in order: several small iovecs are gathered
  // into one pool block first (one copy, up to 16 KiB) so they leave in one
  // record; a large first iovec is sent directly.
  Task<absl::StatusOr<size_t>> writev(std::span<const iovec> iov) {
    size_t first = 0;
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
    if (first == iov.size()) co_return size_t{0};
    constexpr size_t kGather = 16 * 1024;
    if (first + 1 == iov.size() || iov[first].iov_len >= kGather) {
      co_return co_await WriteSome(iov[first].iov_base, iov[first].iov_len);
    }
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(kGather);
    if (!block.ok()) co_return co_await WriteSome(iov[first].iov_base, iov[first].iov_len);
    size_t gathered = 0;
    for (size_t i = first; i < iov.size() && gathered < kGather; ++i) {
      const size_t n = std::min(iov[i].iov_len, kGather - gathered);
      if (n != 0) std::memcpy(block->data() + gathered, iov[i].iov_base, n);
      gathered += n;
    }
    co_return co_await WriteSome(block->data(), gathered);
  }

  // Sends every byte `iov` names or fails.
  Task<absl::Status> writev_all(std::span<const iovec> iov) {
    size_t i = 0;
    size_t offset = 0;  // into iov[i]
    while (i < iov.size()) {
      if (offset == iov[i].iov_len) {
        ++i;
        offset = 0;
        continue;
      }
      iovec rest[16];
      size_t count = 0;
      rest[count++] = iovec{static_cast<char*>(iov[i].iov_base) + offset, iov[i].iov_len - offset};
      for (size_t j = i + 1; j < iov.size() && count < 16; ++j) rest[count++] = iov[j];
      absl::StatusOr<size_t> n = co_await writev(std::span<const iovec>(rest, count));
      if (!n.ok()) co_return n.status();
      size_t left = *n;
      while (left != 0 && i < iov.size()) {
        const size_t step = std::min(left, iov[i].iov_len - offset);
        offset += step;
        left -= step;
        if (offset == iov[i].iov_len) {
          ++i;
          offset = 0;
        }
      }
    }
    co_return absl::OkStatus();
  }

  // Sends close_notify. Does not wait for the peer's close_notify and does
  // not close the transport.
  // Errors: the session's error if it failed (close_notify cannot be sent);
  // FailedPrecondition before the handshake or after a cancelled write left
  // a record half sent; the socket's error.
  Task<absl::Status> shutdown() {
    AsyncFd& fd = stream_.async_fd();
    for (;;) {
      absl::Status status;
      const io_internal::TlsWait w = session_.ShutdownStep(fd, &status);
      if (w == io_internal::TlsWait::kNone) co_return status;
      absl::Status ready = co_await (w == io_internal::TlsWait::kWritable ? fd.writable()
                                                                          : fd.readable());
      if (!ready.ok()) co_return ready;
    }
  }

  // Closes the transport (no close_notify; see shutdown / graceful_close).
  // Idempotent. REQUIRES: no operation in progress.
  void close() { stream_.close(); }
  bool is_open() const { return stream_.is_open(); }

  // The stream underneath. Reading or writing it directly corrupts the TLS
  // stream; it is there for socket options, addresses and readiness.
  S& next_layer() { return stream_; }
  const S& next_layer() const { return stream_; }

  bool handshake_done() const { return session_.handshake_done(); }
  // Plaintext or unread record bytes wait inside the session, so a read makes
  // progress without the socket becoming readable. A server that waits for
  // readiness before it reads (to hold no buffer while idle) checks this
  // first: `if (!tls.has_buffered()) co_await tls.next_layer().ready();`.
  bool has_buffered() const { return session_.HasBuffered(); }
  std::string_view alpn_protocol() const { return session_.alpn_protocol(); }
  std::string_view server_name() const { return session_.server_name(); }
  std::string_view protocol_version() const { return session_.protocol_version(); }
  std::string_view cipher() const { return session_.cipher(); }
  SSL* native_handle() const { return session_.native_handle(); }

  // For read_into and graceful_close.
  io_internal::TlsSession& session() { return session_; }

 private:
  TlsStream(S stream, io_internal::TlsSession session)
      : stream_(std::move(stream)), session_(std::move(session)) {}

  Task<absl::StatusOr<size_t>> WriteSome(const void* data, size_t len) {
    if (len == 0) co_return size_t{0};
    if (absl::Status s = session_.WritableState(); !s.ok()) co_return s;
    AsyncFd& fd = stream_.async_fd();
    // A cancelled wait with a record half sent: the retry will never come.
    const absl::Cleanup abandon = [this] {
      if (session_.write_in_flight()) session_.AbandonWrite();
    };
    for (;;) {
      const io_internal::TlsIo io = session_.Write(fd, data, len);
      if (io.kind == io_internal::TlsIo::kBytes) co_return io.bytes;
      if (io.kind == io_internal::TlsIo::kError) co_return session_.error();
      const bool write = io.kind != io_internal::TlsIo::kWantRead;
      if (io_internal::DirectionBusy(fd, write)) {
        co_return absl::FailedPreconditionError(
            "TLS write: another task is already waiting on this stream in the same direction");
      }
      absl::Status ready = co_await (write ? fd.writable() : fd.readable());
      if (!ready.ok()) co_return ready;
    }
  }

  S stream_;
  io_internal::TlsSession session_;
};

// Reads once into `buf` from a TLS stream; `co_await` it. Returns the
// plaintext bytes read; 0 once the peer's close_notify has arrived. Waits for
// the socket first, then takes the buffer's memory, then decrypts straight
// into it (SSL_read writes, never reads, the destination: nothing is zeroed
// for Uninit), filling a vectored buffer segment by segment; it goes on
// while more is there without waiting, up to the free space (at most `max`
// bytes if max != 0). Before each wait a deferring buffer with nothing
// filled gives its memory back. The awaitable has no coroutine frame.
// Errors: see io/tls_stream.h's file comment; the buffer's prepare() error;
// FailedPrecondition if the buffer has no free space or the handshake is
// not done; Cancelled if the stream is closed while the read waits.
// Cancellation: nothing was read; the stream stays usable.
// REQUIRES: on the stream's core; no other read in progress on it; `tls`
// and `buf` outlive the co_await.
template <ReadBuf B, class S>
io_internal::TlsReadAwaiter<B> read_into(TlsStream<S>& tls, B& buf, size_t max = 0) {
  return io_internal::TlsReadAwaiter<B>(tls.session(), tls.next_layer().async_fd(), buf, max);
}

namespace io_internal {

// Reads and drops plaintext until the peer's close_notify or EOF.
template <class S>
Task<absl::Status> DrainTlsToEof(TlsStream<S>& tls) {
  Pooled buf(16 * 1024);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(tls, buf);
    // A peer that answers our close_notify by closing the connection has
    // closed it: that is the end we wait for.
    if (!n.ok() && tls.session().peer_closed_without_close_notify()) co_return absl::OkStatus();
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    buf.clear();
  }
}

}  // namespace io_internal

// graceful_close for TLS (see io/graceful_close.h): sends close_notify,
// shuts down the transport's writing half, reads and drops what the peer
// still sends until its close_notify or EOF or until `linger` passes, and
// closes. Returns OK once the peer's close_notify or EOF arrived;
// DeadlineExceeded if `linger` passed first; the error if close_notify could
// not be sent (a failed session: the stream is closed at once) or a read
// failed. The stream is closed in every case, also when the Task is
// cancelled (then without waiting).
// REQUIRES: on the stream's core; `tls` outlives the Task; no other
// operation in progress.
template <class S>
Task<absl::Status> graceful_close(TlsStream<S>& tls, absl::Duration linger = absl::Seconds(2)) {
  const absl::Cleanup close = [&tls] { tls.close(); };
  if (absl::Status s = co_await tls.shutdown(); !s.ok()) co_return s;
  if (absl::Status s = tls.next_layer().shutdown(SHUT_WR); !s.ok()) co_return s;
  co_return co_await timeout(io_internal::DrainTlsToEof(tls), linger);
}

// Wraps `stream` and runs the server handshake: the TlsStream once it is
// done. The stream is closed if it fails or the Task is cancelled.
template <TlsTransport S>
Task<absl::StatusOr<TlsStream<S>>> tls_accept(S stream, TlsContext ctx) {
  absl::StatusOr<TlsStream<S>> tls = TlsStream<S>::Server(std::move(stream), ctx);
  if (!tls.ok()) co_return tls.status();
  if (absl::Status s = co_await tls->handshake(); !s.ok()) co_return s;
  co_return std::move(tls);
}

// The same for a client, checking `server_name` (see TlsStream::Client).
template <TlsTransport S>
Task<absl::StatusOr<TlsStream<S>>> tls_connect(S stream, TlsContext ctx, std::string server_name) {
  absl::StatusOr<TlsStream<S>> tls = TlsStream<S>::Client(std::move(stream), ctx, server_name);
  if (!tls.ok()) co_return tls.status();
  if (absl::Status s = co_await tls->handshake(); !s.ok()) co_return s;
  co_return std::move(tls);
}

}  // namespace readbuf

#endif  // READBUF_IO_TLS_STREAM_H_
