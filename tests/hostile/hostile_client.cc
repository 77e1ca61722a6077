// -----------------------------------------------------------------------------
// File: tests/hostile/hostile_client.cc
// -----------------------------------------------------------------------------
//
// The attacker of the hostile-client suite (run_hostile.sh): misbehaving TCP
// peers for an echo server, one case per run, plus the well-behaved
// ping-pong client whose latency shows whether the attack hurts others.
// Plain POSIX sockets, poll(2) and std::thread: nothing here depends on
// readbuf's runtime, whose behaviour is what is under test.
//
//   hostile_client CASE --port=P [--duration=10s] [--hold=0s] [--connections=N]
//
// Cases (the attack runs for --duration, counted from the start, connecting
// included; then every connection is kept exactly as it is, with no further
// traffic, for --hold; then all are closed; SIGTERM or SIGINT ends the
// attack or the hold at once, and the summary is still printed):
//   half_close   --connections (50) with SO_RCVBUF = --rcvbuf (4096) send
//                bytes and then shutdown(SHUT_WR); they never read.
//                Connection i of N sends --bytes (8 MiB) * (i + 1) / N: an
//                echo server's write finds the window closed once its send
//                buffer is full, and the FIN reaches it only if the rest
//                fits in its receive buffer; both sizes are the kernel's
//                choice, so the spread makes some connections land there
//                (write blocked, FIN received) whatever they are. A
//                connection whose sends make no progress for 500 ms is shut
//                down with what it has sent.
//   slowloris    --connections (50) each send 1 byte per second (echoes are
//                read and dropped).
//   zero_window  --connections (50) with SO_RCVBUF = --rcvbuf (4096) send
//                --bytes (4 MiB) each and never read, so the server's echo
//                writes meet a closed window; no shutdown.
//   rst_storm    in a tight loop on --threads (1) threads: connect, send 16
//                bytes on every 4th connection, then reset it (SO_LINGER
//                {1, 0} + close).
//   idle         --connections (10000) idle connections (nothing sent).
//   flood        one connection sends --bytes (64 MiB) without ever reading
//                (non-blocking sends until --duration).
//   pingpong     the well-behaved client: --connections (4) connections each
//                send --message_size (64) bytes, wait for the echo (checked
//                byte for byte), and repeat, until --duration; requests still
//                unanswered then get --drain (1s) more. --hold is ignored.
//
// Prints ONE line of key=value pairs on stdout, always starting with
// case=CASE, e.g.
//   case=pingpong connections=4 opened=4 ops=81234 p50_us=41 p99_us=95
//       max_us=1800 stuck=0 errors=0 seconds=10.0
// Latencies are per request, send to last echoed byte. `stuck` counts
// requests still unanswered after --drain; each adds its age as a sample,
// so a server that stopped answering shows in max_us. Details of errors go
// to stderr. Exit status 0 unless the client itself failed (no connection
// could be opened at all); 2 for bad flags.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server IPv4 address.");
ABSL_FLAG(int, port, 0, "Server port (required).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long the attack (or ping-pong) runs.");
ABSL_FLAG(absl::Duration, hold, absl::ZeroDuration(),
          "After --duration, keep every connection as it is, with no traffic, this long.");
ABSL_FLAG(int, connections, -1,
          "Connections (default per case: half_close, slowloris, zero_window 50; idle "
          "10000; pingpong 4; flood always 1).");
ABSL_FLAG(int64_t, bytes, -1,
          "Bytes each connection sends (default per case: half_close 8 MiB for the "
          "last connection, less for the others; zero_window 4 MiB; flood 64 MiB).");
ABSL_FLAG(int, rcvbuf, 4096, "half_close, zero_window: SO_RCVBUF of each connection.");
ABSL_FLAG(int, threads, 1, "rst_storm: threads connecting and resetting.");
ABSL_FLAG(int, message_size, 64, "pingpong: bytes per request.");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(1),
          "pingpong: how long unanswered requests may still take after --duration.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(20),
          "idle: longest time to open the connections (other cases: --duration).");

namespace {

constexpr char kUsage[] =
    "Misbehaving TCP clients for an echo server, and a ping-pong latency probe.\n"
    "Usage: hostile_client CASE --port=P [--duration=10s] [--hold=0s] [--connections=N]\n"
    "CASE: half_close slowloris zero_window rst_storm idle flood pingpong";

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

int64_t ToNs(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

// Milliseconds from now to `deadline_ns` for poll(2), in [0, cap_ms].
int PollMs(int64_t deadline_ns, int cap_ms) {
  const int64_t left = deadline_ns - NowNs();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(cap_ms, (left + 999'999) / 1'000'000));
}

// Set by SIGTERM / SIGINT: end the attack and the hold now, then report.
std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

// True until `deadline_ns`, or until a stop signal came.
bool Before(int64_t deadline_ns) {
  return !g_stop.load(std::memory_order_relaxed) && NowNs() < deadline_ns;
}

void SleepUntil(int64_t deadline_ns) {
  while (Before(deadline_ns)) {
    const int64_t left = deadline_ns - NowNs();
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 20'000'000)));
  }
}

// Errors worth a line on stderr; only the first few are printed.
class ErrorLog {
 public:
  void Add(const std::string& what) {
    ++count_;
    if (count_ <= 5) std::fprintf(stderr, "hostile_client: %s\n", what.c_str());
  }
  void AddErrno(const char* op, int err) { Add(absl::StrCat(op, ": ", std::strerror(err))); }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
};

struct Target {
  sockaddr_in addr{};
};

// Opens up to `n` non-blocking connections to `t`, at most 256 connecting at
// once, until all are open or `deadline_ns`. `rcvbuf` > 0 sets SO_RCVBUF
// before connecting (so it bounds the advertised window).
std::vector<int> OpenMany(const Target& t, int n, int rcvbuf, int64_t deadline_ns,
                          ErrorLog* errors) {
  constexpr int kInFlight = 256;
  std::vector<int> open;
  open.reserve(static_cast<size_t>(n));
  std::vector<pollfd> pending;
  int started = 0;
  while (static_cast<int>(open.size()) < n && Before(deadline_ns)) {
    while (started < n && static_cast<int>(pending.size()) < kInFlight) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        errors->AddErrno("socket", errno);
        return open;  // out of fds: keep what is open
      }
      ++started;
      if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), sizeof(t.addr)) == 0) {
        open.push_back(fd);
      } else if (errno == EINPROGRESS) {
        pending.push_back(pollfd{fd, POLLOUT, 0});
      } else {
        errors->AddErrno("connect", errno);
        ::close(fd);
      }
    }
    if (pending.empty()) {
      if (started >= n) break;
      continue;
    }
    const int ready = ::poll(pending.data(), pending.size(), PollMs(deadline_ns, 100));
    if (ready < 0 && errno != EINTR) {
      errors->AddErrno("poll", errno);
      break;
    }
    std::vector<pollfd> still;
    for (const pollfd& p : pending) {
      if (p.revents == 0) {
        still.push_back(p);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) {
        open.push_back(p.fd);
      } else {
        errors->AddErrno("connect", err);
        ::close(p.fd);
      }
    }
    pending.swap(still);
    if (started >= n && pending.empty()) break;
  }
  for (const pollfd& p : pending) ::close(p.fd);
  if (static_cast<int>(open.size()) < n) {
    errors->Add(absl::StrCat("opened ", open.size(), " of ", n, " connections"));
  }
  return open;
}

void CloseAll(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

// Reads and drops whatever `fd` has. False once the peer closed or failed.
bool DrainReadable(int fd, uint64_t* bytes) {
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      *bytes += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

const std::vector<char>& Pattern() {
  static const std::vector<char> p = [] {
    std::vector<char> v(64 * 1024);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>('a' + i % 26);
    return v;
  }();
  return p;
}

struct SendResult {
  uint64_t bytes_sent = 0;
  int complete = 0;  // connections that sent all their bytes
};

// Sends bytes[i] on fds[i] (non-blocking, never reading) until each has sent
// all, or sending makes no progress for `stall_ns` (0: never give up early),
// or `deadline_ns`. `on_done(i)` runs for each connection once it stops
// sending (all sent, stalled, failed, or the deadline).
template <typename OnDone>
SendResult SendWithoutReading(const std::vector<int>& fds, const std::vector<uint64_t>& bytes,
                              int64_t stall_ns, int64_t deadline_ns, ErrorLog* errors,
                              OnDone on_done) {
  SendResult r;
  const std::vector<char>& pattern = Pattern();
  std::vector<uint64_t> sent(fds.size(), 0);
  std::vector<bool> done(fds.size(), false);
  size_t left = fds.size();
  int64_t last_progress = NowNs();
  while (left > 0 && Before(deadline_ns)) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (done[i]) continue;
      pfds.push_back(pollfd{fds[i], POLLOUT, 0});
      index.push_back(i);
    }
    const int ready = ::poll(pfds.data(), pfds.size(), PollMs(deadline_ns, 100));
    if (ready < 0 && errno != EINTR) {
      errors->AddErrno("poll", errno);
      break;
    }
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      const size_t i = index[k];
      for (;;) {
        const uint64_t want = std::min<uint64_t>(bytes[i] - sent[i], pattern.size());
        const ssize_t n = ::send(fds[i], pattern.data(), want, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          sent[i] += static_cast<uint64_t>(n);
          r.bytes_sent += static_cast<uint64_t>(n);
          last_progress = NowNs();
          if (sent[i] == bytes[i]) {
            ++r.complete;
            done[i] = true;
            --left;
            on_done(i);
            break;
          }
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        errors->AddErrno("send", n < 0 ? errno : EPIPE);
        done[i] = true;
        --left;
        on_done(i);
        break;
      }
    }
    if (stall_ns > 0 && NowNs() - last_progress > stall_ns) break;
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!done[i]) on_done(i);
  }
  return r;
}

struct Phases {
  int64_t start_ns = 0;
  int64_t attack_end_ns = 0;  // start + --duration
  int64_t end_ns = 0;         // attack_end + --hold
};

double Seconds(const Phases& p) { return static_cast<double>(NowNs() - p.start_ns) / 1e9; }

int HalfClose(const Target& t, const Phases& ph, int n, uint64_t bytes, int rcvbuf) {
  ErrorLog errors;
  std::vector<int> fds = OpenMany(t, n, rcvbuf, ph.attack_end_ns, &errors);
  if (fds.empty()) return 1;
  int shut = 0;
  std::vector<uint64_t> amounts(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) amounts[i] = std::max<uint64_t>(1, bytes * (i + 1) / n);
  const SendResult r = SendWithoutReading(
      fds, amounts, ToNs(absl::Milliseconds(500)), ph.attack_end_ns, &errors, [&](size_t i) {
        if (::shutdown(fds[i], SHUT_WR) == 0) ++shut;
      });
  SleepUntil(ph.end_ns);
  const int opened = static_cast<int>(fds.size());
  CloseAll(fds);
  std::printf("case=half_close connections=%d opened=%d rcvbuf=%d bytes_sent=%" PRIu64
              " fully_sent=%d shut_down=%d errors=%" PRIu64 " seconds=%.1f\n",
              n, opened, rcvbuf, r.bytes_sent, r.complete, shut, errors.count(), Seconds(ph));
  return 0;
}

int Slowloris(const Target& t, const Phases& ph, int n) {
  ErrorLog errors;
  std::vector<int> fds = OpenMany(t, n, 0, ph.attack_end_ns, &errors);
  if (fds.empty()) return 1;
  std::vector<bool> closed(fds.size(), false);
  uint64_t sent = 0, echoed = 0, closed_by_server = 0;
  int64_t next_byte = NowNs();
  while (Before(ph.attack_end_ns)) {
    if (NowNs() >= next_byte) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (closed[i]) continue;
        const char c = static_cast<char>('a' + sent % 26);
        const ssize_t w = ::send(fds[i], &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == 1) {
          ++sent;
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          errors.AddErrno("send", errno);
          closed[i] = true;
        }
      }
      next_byte += ToNs(absl::Seconds(1));
    }
    std::vector<pollfd> pfds;
    for (size_t i = 0; i < fds.size(); ++i) {
      pfds.push_back(pollfd{closed[i] ? -1 : fds[i], POLLIN, 0});
    }
    if (::poll(pfds.data(), pfds.size(), PollMs(std::min(next_byte, ph.attack_end_ns), 100)) <
            0 &&
        errno != EINTR) {
      errors.AddErrno("poll", errno);
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (pfds[i].revents == 0 || closed[i]) continue;
      if (!DrainReadable(fds[i], &echoed)) {
        ++closed_by_server;
        closed[i] = true;
      }
    }
  }
  SleepUntil(ph.end_ns);
  const int opened = static_cast<int>(fds.size());
  CloseAll(fds);
  std::printf("case=slowloris connections=%d opened=%d bytes_sent=%" PRIu64
              " bytes_echoed=%" PRIu64 " closed_by_server=%" PRIu64 " errors=%" PRIu64
              " seconds=%.1f\n",
              n, opened, sent, echoed, closed_by_server, errors.count(), Seconds(ph));
  return 0;
}

int ZeroWindow(const Target& t, const Phases& ph, int n, uint64_t bytes, int rcvbuf) {
  ErrorLog errors;
  std::vector<int> fds = OpenMany(t, n, rcvbuf, ph.attack_end_ns, &errors);
  if (fds.empty()) return 1;
  const SendResult r = SendWithoutReading(fds, std::vector<uint64_t>(fds.size(), bytes),
                                          /*stall_ns=*/0, ph.attack_end_ns, &errors, [](size_t) {});
  SleepUntil(ph.end_ns);
  const int opened = static_cast<int>(fds.size());
  CloseAll(fds);
  std::printf("case=zero_window connections=%d opened=%d rcvbuf=%d bytes_sent=%" PRIu64
              " fully_sent=%d errors=%" PRIu64 " seconds=%.1f\n",
              n, opened, rcvbuf, r.bytes_sent, r.complete, errors.count(), Seconds(ph));
  return 0;
}

int RstStorm(const Target& t, const Phases& ph, int threads) {
  std::atomic<uint64_t> resets{0}, with_data{0}, connect_errors{0};
  std::atomic<bool> first_error_printed{false};
  auto storm = [&] {
    uint64_t i = 0;
    while (Before(ph.attack_end_ns)) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        connect_errors.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      bool connected =
          ::connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), sizeof(t.addr)) == 0;
      int err = connected ? 0 : errno;
      if (!connected && err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, PollMs(ph.attack_end_ns, 1000)) == 1) {
          socklen_t len = sizeof(err);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          connected = err == 0;
        } else {
          err = ETIMEDOUT;
        }
      }
      if (connected) {
        if (i++ % 4 == 3) {
          static const char kBytes[16] = "hostile rst....";
          if (::send(fd, kBytes, sizeof(kBytes), MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
            with_data.fetch_add(1, std::memory_order_relaxed);
          }
        }
        const linger lg{1, 0};  // close() sends RST
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        resets.fetch_add(1, std::memory_order_relaxed);
      } else {
        connect_errors.fetch_add(1, std::memory_order_relaxed);
        if (!first_error_printed.exchange(true)) {
          std::fprintf(stderr, "hostile_client: connect: %s\n", std::strerror(err));
        }
      }
      ::close(fd);
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) workers.emplace_back(storm);
  for (std::thread& w : workers) w.join();
  SleepUntil(ph.end_ns);
  std::printf("case=rst_storm threads=%d resets=%" PRIu64 " with_data=%" PRIu64
              " connect_errors=%" PRIu64 " seconds=%.1f\n",
              threads, resets.load(), with_data.load(), connect_errors.load(), Seconds(ph));
  return resets.load() > 0 ? 0 : 1;
}

int Idle(const Target& t, const Phases& ph, int n, absl::Duration connect_timeout) {
  ErrorLog errors;
  std::vector<int> fds =
      OpenMany(t, n, 0, std::min(ph.end_ns, ph.start_ns + ToNs(connect_timeout)), &errors);
  if (fds.empty()) return 1;
  const double open_seconds = Seconds(ph);
  SleepUntil(ph.end_ns);
  // The server may have closed some; count those still open.
  uint64_t dropped = 0, ignored = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && !DrainReadable(fd, &ignored)) ++dropped;
  }
  const int opened = static_cast<int>(fds.size());
  CloseAll(fds);
  std::printf("case=idle connections=%d opened=%d open_seconds=%.1f closed_by_server=%" PRIu64
              " errors=%" PRIu64 " seconds=%.1f\n",
              n, opened, open_seconds, dropped, errors.count(), Seconds(ph));
  return 0;
}

int Flood(const Target& t, const Phases& ph, uint64_t bytes) {
  ErrorLog errors;
  std::vector<int> fds = OpenMany(t, 1, 0, ph.attack_end_ns, &errors);
  if (fds.empty()) return 1;
  const SendResult r = SendWithoutReading(fds, {bytes}, /*stall_ns=*/0, ph.attack_end_ns, &errors,
                                          [](size_t) {});
  SleepUntil(ph.end_ns);
  CloseAll(fds);
  std::printf("case=flood bytes=%" PRIu64 " bytes_sent=%" PRIu64 " complete=%d errors=%" PRIu64
              " seconds=%.1f\n",
              bytes, r.bytes_sent, r.complete, errors.count(), Seconds(ph));
  return 0;
}

// One ping-pong connection: a request is in flight from `started_ns` until
// all of it has come back.
struct PingConn {
  int fd = -1;
  bool dead = false;
  bool in_flight = false;
  size_t sent = 0;
  size_t got = 0;
  uint64_t seq = 0;
  int64_t started_ns = 0;
  std::vector<char> req, resp;
};

void FillRequest(PingConn& c, size_t index) {
  for (size_t i = 0; i < c.req.size(); ++i) {
    c.req[i] = static_cast<char>((c.seq * 131 + index * 17 + i) & 0xff);
  }
}

// Sends what is left of the request. False if the connection failed.
bool SendRequest(PingConn& c, ErrorLog* errors) {
  while (c.sent < c.req.size()) {
    const ssize_t n =
        ::send(c.fd, c.req.data() + c.sent, c.req.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    errors->AddErrno("send", n < 0 ? errno : EPIPE);
    return false;
  }
  return true;
}

void StartRequest(PingConn& c, size_t index, ErrorLog* errors) {
  ++c.seq;
  FillRequest(c, index);
  c.sent = 0;
  c.got = 0;
  c.in_flight = true;
  c.started_ns = NowNs();
  if (!SendRequest(c, errors)) c.dead = true;
}

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

int PingPong(const Target& t, const Phases& ph, int n, int message_size, absl::Duration drain) {
  ErrorLog errors;
  std::vector<int> fds = OpenMany(t, n, 0, ph.attack_end_ns, &errors);
  if (fds.empty()) {
    std::printf("case=pingpong connections=%d opened=0 ops=0 p50_us=0 p99_us=0 max_us=0 "
                "stuck=0 errors=%" PRIu64 " seconds=%.1f\n",
                n, errors.count(), Seconds(ph));
    return 1;
  }
  std::vector<PingConn> conns(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) {
    const int one = 1;
    ::setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conns[i].fd = fds[i];
    conns[i].req.resize(static_cast<size_t>(message_size));
    conns[i].resp.resize(static_cast<size_t>(message_size));
  }
  std::vector<int64_t> samples;
  samples.reserve(1 << 20);
  for (size_t i = 0; i < conns.size(); ++i) StartRequest(conns[i], i, &errors);
  const int64_t drain_end = ph.attack_end_ns + ToNs(drain);
  std::vector<pollfd> pfds(conns.size());
  for (;;) {
    const int64_t now = NowNs();
    bool any_in_flight = false;
    for (size_t i = 0; i < conns.size(); ++i) {
      PingConn& c = conns[i];
      const bool active = !c.dead && c.in_flight;
      any_in_flight |= active;
      short events = 0;
      if (active) events = static_cast<short>(POLLIN | (c.sent < c.req.size() ? POLLOUT : 0));
      pfds[i] = pollfd{active ? c.fd : -1, events, 0};
    }
    if (!any_in_flight || now >= drain_end) break;
    const int ready = ::poll(pfds.data(), pfds.size(), PollMs(drain_end, 100));
    if (ready < 0 && errno != EINTR) {
      errors.AddErrno("poll", errno);
      break;
    }
    if (ready <= 0) continue;
    for (size_t i = 0; i < conns.size(); ++i) {
      PingConn& c = conns[i];
      if (pfds[i].revents == 0 || c.dead) continue;
      if ((pfds[i].revents & POLLOUT) != 0 && !SendRequest(c, &errors)) {
        c.dead = true;
        continue;
      }
      if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t r = ::recv(c.fd, c.resp.data() + c.got, c.resp.size() - c.got, MSG_DONTWAIT);
      if (r == 0) {
        errors.Add(absl::StrCat("connection ", i, ": EOF from the server"));
        c.dead = true;
        continue;
      }
      if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          errors.AddErrno("recv", errno);
          c.dead = true;
        }
        continue;
      }
      c.got += static_cast<size_t>(r);
      if (c.got < c.resp.size()) continue;
      const int64_t done = NowNs();
      if (std::memcmp(c.req.data(), c.resp.data(), c.req.size()) != 0) {
        errors.Add(absl::StrCat("connection ", i, ": echoed bytes differ"));
        c.dead = true;
        continue;
      }
      samples.push_back(done - c.started_ns);
      c.in_flight = false;
      if (Before(ph.attack_end_ns)) StartRequest(c, i, &errors);
    }
  }
  const uint64_t ops = samples.size();
  uint64_t stuck = 0;
  const int64_t end = NowNs();
  for (const PingConn& c : conns) {
    if (c.in_flight && !c.dead) {
      ++stuck;
      samples.push_back(end - c.started_ns);
    }
  }
  std::sort(samples.begin(), samples.end());
  const int opened = static_cast<int>(fds.size());
  CloseAll(fds);
  std::printf("case=pingpong connections=%d opened=%d ops=%" PRIu64 " p50_us=%" PRId64
              " p99_us=%" PRId64 " max_us=%" PRId64 " stuck=%" PRIu64 " errors=%" PRIu64
              " seconds=%.1f\n",
              n, opened, ops, Percentile(samples, 0.50) / 1000, Percentile(samples, 0.99) / 1000,
              samples.empty() ? 0 : samples.back() / 1000, stuck, errors.count(), Seconds(ph));
  return 0;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "hostile_client: %s\n%s\n", problem.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() != 2) return Usage("expected exactly one CASE");
  const std::string which = rest[1];
  const int port = absl::GetFlag(FLAGS_port);
  if (port <= 0 || port > 65535) return Usage("--port must be in 1..65535");
  Target t;
  t.addr.sin_family = AF_INET;
  t.addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &t.addr.sin_addr) != 1) {
    return Usage("--host must be an IPv4 address");
  }
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration hold = absl::GetFlag(FLAGS_hold);
  if (duration <= absl::ZeroDuration() || hold < absl::ZeroDuration()) {
    return Usage("--duration must be positive and --hold not negative");
  }
  const int connections_flag = absl::GetFlag(FLAGS_connections);
  const int64_t bytes_flag = absl::GetFlag(FLAGS_bytes);
  if (connections_flag == 0 || connections_flag < -1) return Usage("--connections must be >= 1");
  if (bytes_flag == 0 || bytes_flag < -1) return Usage("--bytes must be >= 1");
  auto connections = [&](int by_default) {
    return connections_flag > 0 ? connections_flag : by_default;
  };
  auto bytes = [&](uint64_t by_default) {
    return bytes_flag > 0 ? static_cast<uint64_t>(bytes_flag) : by_default;
  };
  const int threads = absl::GetFlag(FLAGS_threads);
  const int message_size = absl::GetFlag(FLAGS_message_size);
  const int rcvbuf = absl::GetFlag(FLAGS_rcvbuf);
  if (threads < 1 || threads > 64) return Usage("--threads must be in 1..64");
  if (message_size < 1 || message_size > (1 << 20)) return Usage("--message_size out of range");
  if (rcvbuf < 1) return Usage("--rcvbuf must be positive");

  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction stop{};
  stop.sa_handler = OnStopSignal;
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }

  Phases ph;
  ph.start_ns = NowNs();
  ph.attack_end_ns = ph.start_ns + ToNs(duration);
  ph.end_ns = ph.attack_end_ns + ToNs(hold);
  int rc;
  if (which == "half_close") {
    rc = HalfClose(t, ph, connections(50), bytes(8 << 20), rcvbuf);
  } else if (which == "slowloris") {
    rc = Slowloris(t, ph, connections(50));
  } else if (which == "zero_window") {
    rc = ZeroWindow(t, ph, connections(50), bytes(4 << 20), rcvbuf);
  } else if (which == "rst_storm") {
    rc = RstStorm(t, ph, threads);
  } else if (which == "idle") {
    rc = Idle(t, ph, connections(10000), absl::GetFlag(FLAGS_connect_timeout));
  } else if (which == "flood") {
    rc = Flood(t, ph, bytes(64ull << 20));
  } else if (which == "pingpong") {
    ph.end_ns = ph.attack_end_ns;
    rc = PingPong(t, ph, connections(4), message_size, absl::GetFlag(FLAGS_drain));
  } else {
    return Usage("unknown CASE '" + which + "'");
  }
  std::fflush(stdout);
  return rc;
}
