// See loadgen.h.
#include "bench/harness/loadgen.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/loopback.h"
#include "bench/harness/tls_errors.h"

namespace readbuf::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;   // over TLS: the client session (handshake done)
  size_t sent = 0;      // bytes written (of the current message, or in total)
  size_t received = 0;  // bytes read back (same)
  Clock::time_point start;
};

class ConnSet {
 public:
  ~ConnSet() {
    for (Conn& c : conns_) {
      SSL_free(c.ssl);  // no close_notify: the run is over
      if (c.fd >= 0) close(c.fd);
    }
    if (epfd_ >= 0) close(epfd_);
  }
  // `tls`: each connection completes a TLS handshake (blocking) before it
  // turns non-blocking.
  absl::Status Open(int port, int count, uint32_t events, SSL_CTX* tls = nullptr) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
    conns_.resize(static_cast<size_t>(count));
    for (size_t i = 0; i < conns_.size(); ++i) {
      absl::StatusOr<int> fd = ConnectLoopback(port, /*nonblocking=*/tls == nullptr);
      if (!fd.ok()) return fd.status();
      conns_[i].fd = *fd;
      if (tls != nullptr) {
        if (absl::Status s = Handshake(tls, conns_[i]); !s.ok()) return s;
      }
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = i;
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, *fd, &ev) != 0) {
        return absl::ErrnoToStatus(errno, "epoll_ctl");
      }
    }
    return absl::OkStatus();
  }
  int epfd() const { return epfd_; }
  std::vector<Conn>& conns() { return conns_; }

 private:
  static absl::Status Handshake(SSL_CTX* ctx, Conn& c) {
    c.ssl = SSL_new(ctx);
    if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
      return absl::InternalError(absl::StrCat("SSL_new: ", DrainTlsErrors()));
    }
    ERR_clear_error();
    if (SSL_connect(c.ssl) != 1) {
      return absl::UnavailableError(absl::StrCat("TLS handshake (fd=", c.fd, "): ", DrainTlsErrors()));
    }
    const int flags = fcntl(c.fd, F_GETFL);
    fcntl(c.fd, F_SETFL, flags | O_NONBLOCK);
    return absl::OkStatus();
  }

  int epfd_ = -1;
  std::vector<Conn> conns_;
};

double Percentile(std::vector<double>& samples, double p) {
  if (samples.empty()) return 0;
  const size_t k = std::min(samples.size() - 1,
                            static_cast<size_t>(p * static_cast<double>(samples.size())));
  std::nth_element(samples.begin(), samples.begin() + static_cast<long>(k), samples.end());
  return samples[k];
}

absl::Status PeerError(const char* what, int fd, ssize_t n) {
  if (n == 0) return absl::UnavailableError(absl::StrCat(what, "(fd=", fd, "): server closed"));
  return absl::ErrnoToStatus(errno, absl::StrCat(what, "(fd=", fd, ")"));
}

}  // namespace

absl::StatusOr<LoadResult> RunPingPong(int port, int connections, size_t message_size,
                                       absl::Duration duration, bool tls) {
  if (connections <= 0 || message_size == 0) {
    return absl::InvalidArgumentError("need connections > 0 and message_size > 0");
  }
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx(nullptr, &SSL_CTX_free);
  if (tls) {
    ctx.reset(SSL_CTX_new(TLS_client_method()));
    if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", DrainTlsErrors()));
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // load, not trust, is measured
  }
  ConnSet set;
  if (absl::Status s = set.Open(port, connections, EPOLLIN, ctx.get()); !s.ok()) return s;
  std::string message(message_size, '\0');
  for (size_t i = 0; i < message_size; ++i) message[i] = static_cast<char>('a' + i % 26);
  std::string in(message_size, '\0');
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  LoadResult result;

  auto send_message = [&](Conn& c) -> absl::Status {
    c.start = Clock::now();
    c.received = 0;
    if (c.ssl != nullptr) {  // one record; retried with the same bytes, as TLS requires
      for (;;) {
        ERR_clear_error();
        const int n = SSL_write(c.ssl, message.data(), static_cast<int>(message_size));
        if (n > 0) return absl::OkStatus();
        const int e = SSL_get_error(c.ssl, n);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
          return absl::UnavailableError(absl::StrCat("SSL_write(fd=", c.fd, "): ", DrainTlsErrors()));
        }
        pollfd p{c.fd, static_cast<short>(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
        poll(&p, 1, 100);
      }
    }
    size_t off = 0;
    while (off < message_size) {  // small messages: the socket buffer takes them
      const ssize_t n = send(c.fd, message.data() + off, message_size - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        pollfd p{c.fd, POLLOUT, 0};
        poll(&p, 1, 100);
      } else if (n < 0 && errno != EINTR) {
        return PeerError("send", c.fd, n);
      }
    }
    return absl::OkStatus();
  };

  for (Conn& c : set.conns()) {
    if (absl::Status s = send_message(c); !s.ok()) return s;
  }
  const Clock::time_point begin = Clock::now();
  const Clock::time_point end = begin + absl::ToChronoNanoseconds(duration);
  epoll_event events[256];
  while (Clock::now() < end) {
    const int ready = epoll_wait(set.epfd(), events, 256, 50);
    for (int e = 0; e < ready; ++e) {
      Conn& c = set.conns()[events[e].data.u64];
      for (;;) {
        ssize_t n;
        if (c.ssl != nullptr) {
          ERR_clear_error();
          n = SSL_read(c.ssl, in.data() + c.received,
                       static_cast<int>(message_size - c.received));
          if (n <= 0) {
            const int err = SSL_get_error(c.ssl, static_cast<int>(n));
            if (err == SSL_ERROR_WANT_READ) break;
            return absl::UnavailableError(absl::StrCat(
                "SSL_read(fd=", c.fd, "): ",
                err == SSL_ERROR_ZERO_RETURN ? "server closed" : DrainTlsErrors()));
          }
        } else {
          n = recv(c.fd, in.data() + c.received, message_size - c.received, 0);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
          if (n <= 0) return PeerError("recv", c.fd, n);
        }
        if (std::memcmp(in.data() + c.received, message.data() + c.received,
                        static_cast<size_t>(n)) != 0) {
          return absl::DataLossError(absl::StrCat("echo mismatch on fd ", c.fd));
        }
        c.received += static_cast<size_t>(n);
        if (c.received == message_size) {
          const Clock::time_point now = Clock::now();
          latencies_us.push_back(
              std::chrono::duration<double, std::micro>(now - c.start).count());
          ++result.ops;
          result.bytes += message_size;
          if (now >= end) break;
          if (absl::Status s = send_message(c); !s.ok()) return s;
        }
      }
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  result.p50_us = Percentile(latencies_us, 0.50);
  result.p99_us = Percentile(latencies_us, 0.99);
  return result;
}

absl::StatusOr<LoadResult> RunStream(int port, int connections, size_t chunk_size,
                                     absl::Duration duration) {
  if (connections <= 0 || chunk_size == 0) {
    return absl::InvalidArgumentError("need connections > 0 and chunk_size > 0");
  }
  ConnSet set;
  if (absl::Status s = set.Open(port, connections, EPOLLIN | EPOLLOUT | EPOLLET); !s.ok()) {
    return s;
  }
  const std::string chunk(chunk_size, 's');
  std::string in(256 * 1024, '\0');
  const size_t max_in_flight = 4 * chunk_size;
  LoadResult result;
  const Clock::time_point begin = Clock::now();
  const Clock::time_point end = begin + absl::ToChronoNanoseconds(duration);

  auto pump = [&](Conn& c) -> absl::Status {
    bool progress = true;
    while (progress) {
      progress = false;
      while (c.sent - c.received < max_in_flight) {
        const size_t off = c.sent % chunk_size;
        const ssize_t n = send(c.fd, chunk.data() + off, chunk_size - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) return PeerError("send", c.fd, n);
        c.sent += static_cast<size_t>(n);
        progress = true;
      }
      for (;;) {
        const ssize_t n = recv(c.fd, in.data(), in.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) return PeerError("recv", c.fd, n);
        c.received += static_cast<size_t>(n);
        progress = true;
      }
    }
    return absl::OkStatus();
  };

  for (Conn& c : set.conns()) {
    if (absl::Status s = pump(c); !s.ok()) return s;
  }
  epoll_event events[64];
  while (Clock::now() < end) {
    const int ready = epoll_wait(set.epfd(), events, 64, 50);
    for (int e = 0; e < ready; ++e) {
      if (absl::Status s = pump(set.conns()[events[e].data.u64]); !s.ok()) return s;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  for (const Conn& c : set.conns()) result.bytes += c.received;
  result.ops = result.bytes / chunk_size;
  return result;
}

absl::StatusOr<IdleConnections> IdleConnections::Open(int port, int count) {
  IdleConnections idle;
  idle.fds_.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<int> fd = ConnectLoopback(port);
    if (!fd.ok()) return fd.status();
    idle.fds_.push_back(*fd);
  }
  return idle;
}

void IdleConnections::Close() {
  for (int fd : fds_) close(fd);
  fds_.clear();
}

absl::Status IdleConnections::EchoOnce(absl::Duration timeout) {
  const timeval tv = absl::ToTimeval(timeout);
  for (int fd : fds_) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) return PeerError("send", fd, -1);
  }
  for (int fd : fds_) {
    char c;
    const ssize_t n = recv(fd, &c, 1, 0);
    if (n != 1 || c != 'x') return PeerError("recv", fd, n);
  }
  return absl::OkStatus();
}

}  // namespace readbuf::bench
