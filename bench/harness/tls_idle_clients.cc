// See tls_idle_clients.h.
#include "bench/harness/tls_idle_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/tls_errors.h"

namespace readbuf::bench {
namespace {

void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  short events = POLLOUT;
};

}  // namespace

absl::StatusOr<TlsIdleClients> TlsIdleClients::Open(int port, int count, std::string* protocol) {
  RaiseFdLimit();
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", DrainTlsErrors()));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // memory, not trust, is measured
  const std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_owner(ctx, &SSL_CTX_free);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  TlsIdleClients clients;
  std::vector<Conn> inflight;
  auto fail = [&](absl::Status s) {
    for (Conn& c : inflight) {
      SSL_free(c.ssl);
      ::close(c.fd);
    }
    return s;
  };
  int started = 0;
  constexpr size_t kInFlight = 64;
  while (static_cast<int>(clients.fds_.size()) < count) {
    while (inflight.size() < kInFlight && started < count) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        return fail(absl::ErrnoToStatus(errno, absl::StrCat("socket (connection ", started, ")")));
      }
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
          errno != EINPROGRESS) {
        const int e = errno;
        ::close(fd);
        return fail(absl::ErrnoToStatus(e, absl::StrCat("connect (connection ", started, ")")));
      }
      SSL* ssl = SSL_new(ctx);
      if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ::close(fd);
        return fail(absl::InternalError(absl::StrCat("SSL_new: ", DrainTlsErrors())));
      }
      SSL_set_connect_state(ssl);
      inflight.push_back(Conn{fd, ssl, POLLOUT});
      ++started;
    }
    std::vector<pollfd> pfds;
    for (const Conn& c : inflight) pfds.push_back(pollfd{c.fd, c.events, 0});
    const int ready = ::poll(pfds.data(), pfds.size(), 20000);
    if (ready < 0 && errno != EINTR) return fail(absl::ErrnoToStatus(errno, "poll"));
    if (ready == 0) return fail(absl::DeadlineExceededError("TLS handshakes stalled for 20 s"));
    std::vector<Conn> still;
    for (size_t i = 0; i < inflight.size(); ++i) {
      Conn c = inflight[i];
      if (pfds[i].revents == 0) {
        still.push_back(c);
        continue;
      }
      ERR_clear_error();
      const int r = SSL_do_handshake(c.ssl);
      if (r == 1) {
        if (protocol != nullptr && protocol->empty()) *protocol = SSL_get_version(c.ssl);
        SSL_free(c.ssl);  // no close_notify: the connection stays open and idle
        clients.fds_.push_back(c.fd);
        continue;
      }
      const int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        still.push_back(c);
        continue;
      }
      const int saved = errno;
      SSL_free(c.ssl);
      ::close(c.fd);
      // `fail` frees what is left: the ones kept so far and those not visited.
      for (size_t j = i + 1; j < inflight.size(); ++j) still.push_back(inflight[j]);
      inflight.swap(still);
      return fail(absl::UnavailableError(absl::StrCat(
          "TLS handshake ", clients.fds_.size() + 1, " failed: SSL error ", e, " ", DrainTlsErrors(),
          e == SSL_ERROR_SYSCALL ? absl::StrCat(" (", std::strerror(saved), ")") : "")));
    }
    inflight.swap(still);
  }
  return clients;
}

void TlsIdleClients::Close() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

}  // namespace readbuf::bench
