// See loadgen.h.
#include "bench/harness/loadgen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace readbuf::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<int> Connect(int port, bool nonblocking) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, errno == EMFILE ? "socket (the open-file limit is reached)"
                                                      : "socket");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat("connect(127.0.0.1:", port, ")"));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (nonblocking) {
    const int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
  return fd;
}

struct Conn {
  int fd = -1;
  size_t sent = 0;      // bytes written (of the current message, or in total)
  size_t received = 0;  // bytes read back (same)
  Clock::time_point start;
};

class ConnSet {
 public:
  ~ConnSet() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    if (epfd_ >= 0) close(epfd_);
  }
  absl::Status Open(int port, int count, uint32_t events) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
    conns_.resize(static_cast<size_t>(count));
    for (size_t i = 0; i < conns_.size(); ++i) {
      absl::StatusOr<int> fd = Connect(port, /*nonblocking=*/true);
      if (!fd.ok()) return fd.status();
      conns_[i].fd = *fd;
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
                                       absl::Duration duration) {
  if (connections <= 0 || message_size == 0) {
    return absl::InvalidArgumentError("need connections > 0 and message_size > 0");
  }
  ConnSet set;
  if (absl::Status s = set.Open(port, connections, EPOLLIN); !s.ok()) return s;
  std::string message(message_size, '\0');
  for (size_t i = 0; i < message_size; ++i) message[i] = static_cast<char>('a' + i % 26);
  std::string in(message_size, '\0');
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  LoadResult result;

  auto send_message = [&](Conn& c) -> absl::Status {
    c.start = Clock::now();
    c.received = 0;
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
        const ssize_t n = recv(c.fd, in.data() + c.received, message_size - c.received, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) return PeerError("recv", c.fd, n);
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
    absl::StatusOr<int> fd = Connect(port, /*nonblocking=*/false);
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
