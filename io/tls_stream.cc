// -----------------------------------------------------------------------------
// File: io/tls_stream.cc
// -----------------------------------------------------------------------------
//
// TlsSession (io/tls_stream.h): the SSL object, the BIO that reads and writes
// the AsyncFd (EAGAIN is recorded on the AsyncFd and becomes a retry, so the
// caller suspends until the fd is ready), and the error statuses. Only
// functions that OpenSSL 3 and BoringSSL both provide are used: SSL_read and
// SSL_write (BoringSSL has no SSL_read_ex / SSL_write_ex; SSL_read writes into
// the destination and never reads it, like SSL_read_ex), the BIO_meth_* API,
// X509_VERIFY_PARAM_set1_host / set1_ip_asc.

#include "io/tls_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <new>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/internal/tls_errors.h"

namespace readbuf {
namespace io_internal {

// The BIO callbacks, with access to the session they serve.
struct TlsBioAccess {
  static int Read(BIO* b, char* out, int len) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    if (s == nullptr || s->fd_ == nullptr || !s->fd_->valid()) {
      if (s != nullptr) {
        s->sys_errno_ = EBADF;
        s->sys_op_ = "read";
      }
      return -1;
    }
    AsyncFd& fd = *s->fd_;
    ssize_t n;
    do {
      n = ::read(fd.fd(), out, static_cast<size_t>(len));
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      // A short read on a stream socket drained it: the next read waits for
      // an edge instead of spending a syscall to learn EAGAIN.
      if (n < len) fd.mark_drained();
      return static_cast<int>(n);
    }
    if (n == 0) {
      s->peer_eof_ = true;
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fd.mark_not_readable();
      s->blocked_ = true;
      BIO_set_retry_read(b);
      return -1;
    }
    s->sys_errno_ = errno;
    s->sys_op_ = "read";
    return -1;
  }

  static int Write(BIO* b, const char* in, int len) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    if (s == nullptr || s->fd_ == nullptr || !s->fd_->valid()) {
      if (s != nullptr) {
        s->sys_errno_ = EBADF;
        s->sys_op_ = "send";
      }
      return -1;
    }
    AsyncFd& fd = *s->fd_;
    ssize_t n;
    do {
      n = ::send(fd.fd(), in, static_cast<size_t>(len), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ENOTSOCK) {  // a pipe or a FIFO
      do {
        n = ::write(fd.fd(), in, static_cast<size_t>(len));
      } while (n < 0 && errno == EINTR);
    }
    if (n >= 0) return static_cast<int>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fd.mark_not_writable();
      s->blocked_ = true;
      BIO_set_retry_write(b);
      return -1;
    }
    s->sys_errno_ = errno;
    s->sys_op_ = "send";
    return -1;
  }
};

namespace {

long BioCtrl(BIO* b, int cmd, long num, void* ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // writes go straight to the socket
}

int BioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int BioDestroy(BIO* b) {
  BIO_set_data(b, nullptr);
  return 1;
}

// The method of the BIO over an AsyncFd; made once per process.
BIO_METHOD* FdBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "readbuf AsyncFd");
    READBUF_CHECK(m != nullptr, "BIO_meth_new failed");
    BIO_meth_set_write(m, &TlsBioAccess::Write);
    BIO_meth_set_read(m, &TlsBioAccess::Read);
    BIO_meth_set_ctrl(m, &BioCtrl);
    BIO_meth_set_create(m, &BioCreate);
    BIO_meth_set_destroy(m, &BioDestroy);
    return m;
  }();
  return method;
}

bool IsIpLiteral(const std::string& name) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, name.c_str(), &a4) == 1 || inet_pton(AF_INET6, name.c_str(), &a6) == 1;
}

int ClampLen(size_t len) { return len > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(len); }

}  // namespace

absl::StatusOr<TlsSession> TlsSession::Create(const TlsContext& ctx, bool server,
                                              std::string_view server_name) {
  if (!ctx.valid()) return absl::InvalidArgumentError("TLS session: the TlsContext is empty");
  if (ctx.is_server() != server) {
    return absl::InvalidArgumentError(server ? "TLS server session needs a server TlsContext"
                                             : "TLS client session needs a client TlsContext");
  }
  ClearTlsErrors();
  SSL_CTX* ssl_ctx = ctx.native_handle();
  const bool verify = !server && (SSL_CTX_get_verify_mode(ssl_ctx) & SSL_VERIFY_PEER) != 0;
  if (verify && server_name.empty()) {
    return absl::InvalidArgumentError(
        "TLS client: verifying the server needs its name (server_name is empty)");
  }
  TlsSession s;
  s.ssl_ = SSL_new(ssl_ctx);
  if (s.ssl_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("SSL_new: ", DrainTlsErrors()));
  }
  BIO* bio = BIO_new(FdBioMethod());
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("BIO_new: ", DrainTlsErrors()));
  }
  BIO_set_data(bio, &s);
  SSL_set_bio(s.ssl_, bio, bio);  // one BIO for both directions, owned by ssl_
  s.ctx_ = ctx.impl();
  s.server_ = server;
  if (server) {
    SSL_set_accept_state(s.ssl_);
    return s;
  }
  SSL_set_connect_state(s.ssl_);
  if (!server_name.empty()) {
    s.expected_name_ = std::string(server_name);
    const bool ip = IsIpLiteral(s.expected_name_);
    if (!ip && SSL_set_tlsext_host_name(s.ssl_, s.expected_name_.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS client: bad server name '", s.expected_name_, "': ", DrainTlsErrors()));
    }
    if (verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(s.ssl_);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, s.expected_name_.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, s.expected_name_.data(),
                                                      s.expected_name_.size());
      if (ok != 1) {
        return absl::InvalidArgumentError(absl::StrCat("TLS client: cannot check server name '",
                                                       s.expected_name_, "': ", DrainTlsErrors()));
      }
    }
  }
  return s;
}

TlsSession::TlsSession(TlsSession&& o) noexcept
    : ssl_(std::exchange(o.ssl_, nullptr)),
      ctx_(std::move(o.ctx_)),
      fd_(nullptr),
      error_(std::move(o.error_)),
      sys_errno_(o.sys_errno_),
      server_(o.server_),
      handshake_done_(o.handshake_done_),
      eof_(o.eof_),
      peer_eof_(o.peer_eof_),
      blocked_(o.blocked_),
      write_in_flight_(o.write_in_flight_),
      write_abandoned_(o.write_abandoned_),
      close_notify_sent_(o.close_notify_sent_),
      sys_op_(o.sys_op_),
      expected_name_(std::move(o.expected_name_)) {
  if (ssl_ != nullptr) BIO_set_data(SSL_get_rbio(ssl_), this);
}

TlsSession& TlsSession::operator=(TlsSession&& o) noexcept {
  if (this != &o) {
    this->~TlsSession();
    new (this) TlsSession(std::move(o));
  }
  return *this;
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(std::exchange(ssl_, nullptr));  // and its BIO
}

void TlsSession::Bind(AsyncFd& fd) {
  fd_ = &fd;
  blocked_ = false;
  sys_errno_ = 0;
  ClearTlsErrors();
}

std::string TlsSession::Where(const char* op) const {
  return absl::StrCat(op, " (", server_ ? "server" : "client",
                      fd_ != nullptr ? absl::StrCat(", fd=", fd_->fd()) : std::string(), ")");
}

absl::Status TlsSession::Fail(const char* op, int ssl_error) {
  const std::string lib = DrainTlsErrors();
  const std::string where = Where(op);
  const std::string detail = lib.empty() ? std::string() : absl::StrCat(" [", lib, "]");
  absl::Status st;
  const long verify = SSL_get_verify_result(ssl_);
  if (!server_ && !handshake_done_ && verify != X509_V_OK) {
    std::string reason = X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      absl::StrAppend(&reason, " (expected ", expected_name_, ")");
    }
    st = absl::UnauthenticatedError(
        absl::StrCat(where, ": certificate verification failed: ", reason, detail));
  } else if (sys_errno_ != 0) {
    st = absl::ErrnoToStatus(
        sys_errno_, absl::StrCat(where, ": ", sys_op_, "(fd=", fd_ != nullptr ? fd_->fd() : -1, ")"));
  } else if (peer_eof_ && !handshake_done_) {
    st = absl::UnavailableError(
        absl::StrCat(where, ": the peer closed the connection during the handshake", detail));
  } else if (peer_eof_ && (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0) {
    st = absl::DataLossError(absl::StrCat(
        where, ": the peer closed the connection without close_notify (truncated TLS stream)",
        detail));
  } else if (!handshake_done_) {
    st = absl::UnavailableError(
        absl::StrCat(where, ": ", lib.empty() ? absl::StrCat("SSL error ", ssl_error) : lib));
  } else {
    st = absl::DataLossError(
        absl::StrCat(where, ": ", lib.empty() ? absl::StrCat("SSL error ", ssl_error) : lib));
  }
  error_ = st;
  return st;
}

bool TlsSession::peer_closed_without_close_notify() const {
  return ssl_ != nullptr && peer_eof_ && (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0;
}

TlsWait TlsSession::HandshakeStep(AsyncFd& fd, absl::Status* status) {
  if (ssl_ == nullptr) {
    *status = absl::FailedPreconditionError("TLS handshake: no session");
    return TlsWait::kNone;
  }
  if (handshake_done_ || failed()) {
    *status = error_;
    return TlsWait::kNone;
  }
  Bind(fd);
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    *status = absl::OkStatus();
    return TlsWait::kNone;
  }
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) return TlsWait::kReadable;
  if (e == SSL_ERROR_WANT_WRITE) return TlsWait::kWritable;
  *status = Fail("TLS handshake", e);
  return TlsWait::kNone;
}

TlsIo TlsSession::Read(AsyncFd& fd, void* dst, size_t len) {
  if (failed()) return TlsIo{TlsIo::kError, 0};
  Bind(fd);
  const int r = SSL_read(ssl_, dst, ClampLen(len));
  if (r > 0) return TlsIo{TlsIo::kBytes, static_cast<size_t>(r)};
  const int e = SSL_get_error(ssl_, r);
  switch (e) {
    case SSL_ERROR_ZERO_RETURN:
      eof_ = true;
      return TlsIo{TlsIo::kEof, 0};
    case SSL_ERROR_WANT_READ:
      return TlsIo{TlsIo::kWantRead, 0};
    case SSL_ERROR_WANT_WRITE:
      return TlsIo{TlsIo::kWantWrite, 0};
    default:
      (void)Fail("TLS read", e);
      return TlsIo{TlsIo::kError, 0};
  }
}

TlsIo TlsSession::Write(AsyncFd& fd, const void* src, size_t len) {
  if (failed()) return TlsIo{TlsIo::kError, 0};
  Bind(fd);
  const int r = SSL_write(ssl_, src, ClampLen(len));
  if (r > 0) {
    write_in_flight_ = false;
    return TlsIo{TlsIo::kBytes, static_cast<size_t>(r)};
  }
  const int e = SSL_get_error(ssl_, r);
  switch (e) {
    case SSL_ERROR_WANT_WRITE:
      write_in_flight_ = true;
      return TlsIo{TlsIo::kWantWrite, 0};
    case SSL_ERROR_WANT_READ:
      write_in_flight_ = true;
      return TlsIo{TlsIo::kWantRead, 0};
    default:
      write_in_flight_ = false;
      (void)Fail("TLS write", e);
      return TlsIo{TlsIo::kError, 0};
  }
}

TlsWait TlsSession::ShutdownStep(AsyncFd& fd, absl::Status* status) {
  if (ssl_ == nullptr || !handshake_done_) {
    *status = absl::FailedPreconditionError("TLS shutdown: the handshake is not done");
    return TlsWait::kNone;
  }
  if (failed()) {
    *status = error_;
    return TlsWait::kNone;
  }
  if (write_abandoned_) {
    *status = absl::FailedPreconditionError(
        "TLS shutdown: a cancelled write left a record half sent; close_notify cannot follow it");
    return TlsWait::kNone;
  }
  if (close_notify_sent_) {
    *status = absl::OkStatus();
    return TlsWait::kNone;
  }
  Bind(fd);
  const int r = SSL_shutdown(ssl_);
  if (r >= 0) {
    close_notify_sent_ = true;
    *status = absl::OkStatus();
    return TlsWait::kNone;
  }
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_WRITE) return TlsWait::kWritable;
  if (e == SSL_ERROR_WANT_READ) return TlsWait::kReadable;
  *status = Fail("TLS shutdown", e);
  return TlsWait::kNone;
}

absl::Status TlsSession::ReadableState() const {
  if (ssl_ == nullptr) return absl::FailedPreconditionError("TLS read: no session");
  if (failed()) return error_;
  if (!handshake_done_) {
    return absl::FailedPreconditionError("TLS read: the handshake is not done (call handshake())");
  }
  return absl::OkStatus();
}

absl::Status TlsSession::WritableState() const {
  if (ssl_ == nullptr) return absl::FailedPreconditionError("TLS write: no session");
  if (failed()) return error_;
  if (!handshake_done_) {
    return absl::FailedPreconditionError("TLS write: the handshake is not done (call handshake())");
  }
  if (write_abandoned_) {
    return absl::FailedPreconditionError(
        "TLS write: an earlier write was cancelled with a record half sent; the stream "
        "cannot write any more (close it)");
  }
  if (close_notify_sent_) {
    return absl::FailedPreconditionError("TLS write: close_notify was already sent");
  }
  return absl::OkStatus();
}

bool TlsSession::HasBuffered() const {
  return ssl_ != nullptr && (SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_) == 1);
}

void TlsSession::AbandonWrite() {
  write_in_flight_ = false;
  write_abandoned_ = true;
}

std::string_view TlsSession::alpn_protocol() const {
  if (ssl_ == nullptr) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return data == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view TlsSession::server_name() const {
  if (ssl_ == nullptr) return {};
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  if (name != nullptr) return name;
  return expected_name_;
}

std::string_view TlsSession::protocol_version() const {
  if (ssl_ == nullptr || !handshake_done_) return {};
  return SSL_get_version(ssl_);
}

std::string_view TlsSession::cipher() const {
  if (ssl_ == nullptr || !handshake_done_) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c == nullptr ? std::string_view() : std::string_view(SSL_CIPHER_get_name(c));
}

}  // namespace io_internal
}  // namespace readbuf
