// -----------------------------------------------------------------------------
// File: bench/harness/tls_idle.cc
// -----------------------------------------------------------------------------
//
// The idle-TLS-connection memory measurement (bench/harness/tls_idle.h).

#include "bench/harness/tls_idle.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness/server_process.h"

namespace readbuf::bench {
namespace {

std::string TlsErrors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    absl::StrAppend(&out, out.empty() ? "" : "; ", text);
  }
  return out;
}

void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// VmRSS of `pid` in bytes.
absl::StatusOr<size_t> RssOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      size_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS for pid ", pid));
}

// Reads RSS until two readings `settle` apart differ by at most 0.5%.
absl::StatusOr<size_t> SettledRss(pid_t pid, absl::Duration settle) {
  absl::StatusOr<size_t> last = RssOf(pid);
  if (!last.ok()) return last;
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(settle);
    absl::StatusOr<size_t> now = RssOf(pid);
    if (!now.ok()) return now;
    const double diff = static_cast<double>(*now > *last ? *now - *last : *last - *now);
    last = now;
    if (diff <= 0.005 * static_cast<double>(*now)) break;
  }
  return last;
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
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", TlsErrors()));
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
        return fail(absl::InternalError(absl::StrCat("SSL_new: ", TlsErrors())));
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
          "TLS handshake ", clients.fds_.size() + 1, " failed: SSL error ", e, " ", TlsErrors(),
          e == SSL_ERROR_SYSCALL ? absl::StrCat(" (", std::strerror(saved), ")") : "")));
    }
    inflight.swap(still);
  }
  return clients;
}

TlsIdleClients::~TlsIdleClients() {
  for (int fd : fds_) ::close(fd);
}

namespace {

struct Measured {
  size_t before = 0;
  size_t after = 0;
  double seconds = 0;
  std::string protocol;
};

// Warm-up connections, RSS, the measured connections, RSS. `rss_pid`
// returns the pid whose RSS counts.
absl::StatusOr<Measured> Measure(int port, pid_t rss_pid, const TlsIdleOptions& options) {
  Measured m;
  absl::StatusOr<TlsIdleClients> warm = TlsIdleClients::Open(port, options.warmup);
  if (!warm.ok()) return warm.status();
  absl::StatusOr<size_t> before = SettledRss(rss_pid, options.settle);
  if (!before.ok()) return before.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<TlsIdleClients> idle =
      TlsIdleClients::Open(port, options.connections, &m.protocol);
  if (!idle.ok()) return idle.status();
  m.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  absl::StatusOr<size_t> after = SettledRss(rss_pid, options.settle);
  if (!after.ok()) return after.status();
  m.before = *before;
  m.after = *after;
  return m;
}

TlsIdleResult ResultFrom(std::string server, const Measured& m, const TlsIdleOptions& options) {
  TlsIdleResult r;
  r.server = std::move(server);
  r.connections = options.connections;
  r.rss_before = m.before;
  r.rss_after = m.after;
  r.bytes_per_connection =
      (static_cast<double>(m.after) - static_cast<double>(m.before)) / options.connections;
  r.handshake_seconds = m.seconds;
  r.protocol = m.protocol;
  return r;
}

absl::Status CheckOptions(const TlsIdleOptions& options) {
  if (options.connections < 1 || options.connections + options.warmup > 19000) {
    return absl::InvalidArgumentError("connections + warmup must be in 1..19000 (fd limit)");
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError("cert_file and key_file are required");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsIdleResult> MeasureReadbufTlsIdle(const std::string& echo_server,
                                                    const std::string& policy,
                                                    const TlsIdleOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  ServerProcess::Options server_options;
  server_options.argv = {echo_server,
                         "--port=0",
                         "--threads=1",
                         absl::StrCat("--policy=", policy),
                         absl::StrCat("--backend=", options.backend),
                         absl::StrCat("--tls_cert=", options.cert_file),
                         absl::StrCat("--tls_key=", options.key_file)};
  server_options.cpu = options.server_cpu;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(server_options);
  if (!server.ok()) return server.status();
  absl::StatusOr<Measured> m = Measure((*server)->port(), (*server)->pid(), options);
  if (!m.ok()) return m.status();
  (void)(*server)->Stop(absl::Seconds(20));
  return ResultFrom(absl::StrCat("readbuf ", policy, " (", options.backend, ")"), *m, options);
}

absl::StatusOr<TlsIdleResult> MeasureNginxTlsIdle(const std::string& nginx,
                                                  const TlsIdleOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (::access(nginx.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(nginx, " not found: install Debian's nginx-light (apt-get install nginx-light)"));
  }
  // A free port (released again: nginx binds it right after).
  int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (probe < 0 || ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (probe >= 0) ::close(probe);
    return absl::ErrnoToStatus(errno, "picking a port for nginx");
  }
  const int port = ntohs(addr.sin_port);
  ::close(probe);

  char dir_template[] = "/tmp/readbuf-nginx.XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
  const std::string prefix = dir;
  ::mkdir((prefix + "/tmp").c_str(), 0700);
  ::mkdir((prefix + "/logs").c_str(), 0700);
  const int worker_connections = options.connections + options.warmup + 1000;
  const std::string conf = absl::StrCat(
      "# Generated by readbuf's bench/harness/tls_idle.cc; run in the foreground.\n",
      "daemon off;\nmaster_process on;\nworker_processes 1;\n",
      "worker_rlimit_nofile 20000;\n", "pid ", prefix, "/nginx.pid;\n", "error_log ", prefix,
      "/logs/error.log warn;\n", "events { worker_connections ", worker_connections, "; }\n",
      "http {\n  access_log off;\n", "  client_body_temp_path ", prefix, "/tmp;\n",
      "  proxy_temp_path ", prefix, "/tmp;\n  fastcgi_temp_path ", prefix, "/tmp;\n",
      "  uwsgi_temp_path ", prefix, "/tmp;\n  scgi_temp_path ", prefix, "/tmp;\n",
      "  client_header_timeout 3600s;\n  keepalive_timeout 3600s;\n",
      "  server {\n    listen 127.0.0.1:", port, " ssl;\n",
      // nginx 1.22 leaves TLS 1.3 out by default; readbuf negotiates it.
      "    ssl_protocols TLSv1.2 TLSv1.3;\n", "    ssl_certificate ",
      options.cert_file, ";\n    ssl_certificate_key ", options.key_file, ";\n",
      "    location / { return 200 \"ok\\n\"; }\n  }\n}\n");
  const std::string conf_path = prefix + "/nginx.conf";
  {
    std::ofstream out(conf_path);
    out << conf;
    if (!out) return absl::InternalError(absl::StrCat("writing ", conf_path));
  }
  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    if (options.server_cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(options.server_cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execl(nginx.c_str(), nginx.c_str(), "-p", prefix.c_str(), "-c", conf_path.c_str(), "-e",
            (prefix + "/logs/error.log").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop = [pid, prefix] {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  };
  // The worker: the master's child, once the port accepts.
  pid_t worker = -1;
  for (int i = 0; i < 200 && worker < 0; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      return absl::InternalError(
          absl::StrCat("nginx exited at start; see ", prefix, "/logs/error.log"));
    }
    std::ifstream children(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
    long child = 0;
    if (children >> child && child > 0) worker = static_cast<pid_t>(child);
  }
  if (worker < 0) {
    stop();
    return absl::DeadlineExceededError("nginx started no worker within 10 s");
  }
  absl::StatusOr<Measured> m = Measure(port, worker, options);
  stop();
  if (!m.ok()) return m.status();
  return ResultFrom("nginx (1 worker, listen ssl)", *m, options);
}

}  // namespace readbuf::bench
