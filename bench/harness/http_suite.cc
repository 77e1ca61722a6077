// -----------------------------------------------------------------------------
// File: bench/harness/http_suite.cc
// -----------------------------------------------------------------------------
//
// The HTTP workloads of the report (bench/harness/http_suite.h): wrk runs,
// keep-alive idle clients, and nginx started from a generated config.

#include "bench/harness/http_suite.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/harness/kernel_slab.h"
#include "bench/harness/loopback.h"
#include "bench/harness/server_process.h"
#include "bench/harness/server_stats.h"
#include "bench/harness/tls_idle_clients.h"

namespace readbuf::bench {
namespace {

constexpr absl::Duration kStatsTimeout = absl::Seconds(10);
// TLS connections opened (and held) before the idle baseline, so the TLS
// library's one-time state is not counted per connection.
constexpr int kTlsWarmup = 100;

void AppendNote(std::string& note, const std::string& more) {
  if (more.empty()) return;
  absl::StrAppend(&note, note.empty() ? "" : "; ", more);
}

void PinTo(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// "1.23ms" -> 1230 (microseconds). wrk prints us, ms, s, m and h.
bool ParseWrkTime(absl::string_view text, double* us) {
  text = absl::StripAsciiWhitespace(text);
  struct Unit {
    const char* suffix;
    double us;
  };
  for (const Unit& u : {Unit{"us", 1.0}, Unit{"ms", 1e3}, Unit{"s", 1e6}, Unit{"m", 60e6},
                        Unit{"h", 3600e6}}) {
    absl::string_view number = text;
    if (!absl::ConsumeSuffix(&number, u.suffix)) continue;
    double v;
    if (!absl::SimpleAtod(number, &v)) return false;
    *us = v * u.us;
    return true;
  }
  return false;
}

// "12.34MB" -> bytes. wrk's sizes are binary (1 KB = 1024 B).
bool ParseWrkBytes(absl::string_view text, double* bytes) {
  text = absl::StripAsciiWhitespace(text);
  struct Unit {
    const char* suffix;
    double scale;
  };
  for (const Unit& u : {Unit{"KB", 1024.0}, Unit{"MB", 1024.0 * 1024}, Unit{"GB", 1024.0 * 1024 * 1024},
                        Unit{"TB", 1024.0 * 1024 * 1024 * 1024}, Unit{"B", 1.0}}) {
    absl::string_view number = text;
    if (!absl::ConsumeSuffix(&number, u.suffix)) continue;
    double v;
    if (!absl::SimpleAtod(number, &v)) return false;
    *bytes = v * u.scale;
    return true;
  }
  return absl::SimpleAtod(text, bytes);
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// A stats-file path no other run uses.
std::string StatsPath() {
  static std::atomic<int> next{0};
  const char* tmpdir = std::getenv("TMPDIR");
  return absl::StrCat(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp", "/readbuf_http_stats_",
                      getpid(), "_", next.fetch_add(1), ".txt");
}

uint64_t Stat(const ServerStats& stats, const char* key) {
  auto it = stats.find(key);
  return it == stats.end() ? 0 : it->second;
}

}  // namespace

absl::StatusOr<WrkResult> ParseWrkOutput(absl::string_view out) {
  WrkResult r;
  bool have_requests = false, have_rate = false, have_p50 = false, have_p99 = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    absl::string_view rest = trimmed;
    if (absl::ConsumePrefix(&rest, "75%") || absl::ConsumePrefix(&rest, "90%")) {
      double us = 0;
      if (!ParseWrkTime(rest, &us)) {
        return absl::InvalidArgumentError(absl::StrCat("wrk: bad line '", line, "'"));
      }
      if (us == 0) r.latency_incomplete = true;
    } else if (absl::ConsumePrefix(&rest, "50%")) {
      have_p50 = ParseWrkTime(rest, &r.p50_us);
      if (!have_p50) return absl::InvalidArgumentError(absl::StrCat("wrk: bad line '", line, "'"));
    } else if (absl::ConsumePrefix(&rest, "99%")) {
      have_p99 = ParseWrkTime(rest, &r.p99_us);
      if (!have_p99) return absl::InvalidArgumentError(absl::StrCat("wrk: bad line '", line, "'"));
    } else if (absl::ConsumePrefix(&rest, "Requests/sec:")) {
      have_rate = absl::SimpleAtod(absl::StripAsciiWhitespace(rest), &r.requests_per_second);
      if (!have_rate) return absl::InvalidArgumentError(absl::StrCat("wrk: bad line '", line, "'"));
    } else if (absl::ConsumePrefix(&rest, "Transfer/sec:")) {
      double bytes = 0;
      if (ParseWrkBytes(rest, &bytes)) r.mib_per_second = bytes / (1024.0 * 1024.0);
    } else if (absl::ConsumePrefix(&rest, "Non-2xx or 3xx responses:")) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &r.non_2xx);
    } else if (absl::ConsumePrefix(&rest, "Socket errors:")) {
      // "connect 0, read 0, write 0, timeout 0"
      for (absl::string_view part : absl::StrSplit(rest, ',', absl::SkipWhitespace())) {
        std::vector<absl::string_view> kv =
            absl::StrSplit(absl::StripAsciiWhitespace(part), ' ', absl::SkipEmpty());
        uint64_t n = 0;
        if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &n)) r.socket_errors += n;
      }
    } else if (absl::StrContains(trimmed, " requests in ")) {
      // "<N> requests in <T>, <B> read"
      std::vector<absl::string_view> words = absl::StrSplit(trimmed, ' ', absl::SkipEmpty());
      double us = 0;
      if (words.size() < 4 || !absl::SimpleAtoi(words[0], &r.requests) ||
          !ParseWrkTime(absl::StripSuffix(words[3], ","), &us)) {
        return absl::InvalidArgumentError(absl::StrCat("wrk: bad line '", line, "'"));
      }
      r.seconds = us / 1e6;
      have_requests = true;
    }
  }
  if (!have_requests || !have_rate) {
    return absl::InvalidArgumentError("wrk printed no '<N> requests in <T>' / 'Requests/sec:'");
  }
  if (!have_p50 || !have_p99) {
    return absl::InvalidArgumentError("wrk printed no latency distribution (--latency)");
  }
  if (r.p50_us == 0 || r.p99_us == 0) r.latency_incomplete = true;
  if (r.latency_incomplete && r.requests != 0) {
    r.p50_us = 0;
    r.p99_us = 0;
  }
  return r;
}

std::string PipelineScript(int pipeline) {
  return absl::StrCat(
      "-- Generated by readbuf's //bench:report (bench/harness/http_suite.cc):\n"
      "-- every write carries ",
      pipeline,
      " GET / requests; wrk counts each response.\n"
      "local batch\n"
      "init = function(args)\n"
      "  local one = wrk.format(\"GET\", \"/\")\n"
      "  local parts = {}\n"
      "  for i = 1, ",
      pipeline,
      " do parts[#parts + 1] = one end\n"
      "  batch = table.concat(parts)\n"
      "end\n"
      "request = function()\n"
      "  return batch\n"
      "end\n");
}

absl::StatusOr<WrkResult> RunWrk(const std::string& wrk, int port, int connections,
                                 absl::Duration duration, const std::string& script, int cpu,
                                 bool https) {
  if (::access(wrk.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(wrk, " not found: install Debian's wrk"));
  }
  const double seconds = absl::ToDoubleSeconds(duration);
  const int64_t whole = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds - 1e-9)));
  const bool interrupt = seconds < static_cast<double>(whole) - 1e-6;
  std::vector<std::string> argv = {wrk,           "-t1",
                                   absl::StrCat("-c", connections),
                                   absl::StrCat("-d", whole, "s"),
                                   "--latency"};
  if (!script.empty()) {
    argv.push_back("-s");
    argv.push_back(script);
  }
  argv.push_back(absl::StrCat(https ? "https" : "http", "://127.0.0.1:", port, "/"));
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return absl::ErrnoToStatus(errno, "fork");
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    PinTo(cpu);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const absl::Time start = absl::Now();
  const absl::Time stop_at = start + duration;
  const absl::Time give_up = start + absl::Seconds(whole) + absl::Seconds(30);
  bool interrupted = false;
  std::string text;
  for (;;) {
    const absl::Time now = absl::Now();
    if (interrupt && !interrupted && now >= stop_at) {
      ::kill(pid, SIGINT);  // wrk stops and prints what it measured so far
      interrupted = true;
    }
    if (now >= give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::close(out[0]);
      return absl::DeadlineExceededError("wrk did not finish");
    }
    const absl::Time next = interrupt && !interrupted ? stop_at : give_up;
    pollfd p{out[0], POLLIN, 0};
    const int ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(next - now) + 1, 1, 1000));
    const int ready = ::poll(&p, 1, ms);
    if (ready < 0 && errno != EINTR) {
      const int e = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::close(out[0]);
      return absl::ErrnoToStatus(e, "poll (wrk's output)");
    }
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(out[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // wrk closed its output: it is exiting
    text.append(chunk, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("wrk exited with status ", status, ": ", absl::StripAsciiWhitespace(text)));
  }
  absl::StatusOr<WrkResult> r = ParseWrkOutput(text);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat(r.status().message(), ": ", text));
  }
  return r;
}

absl::StatusOr<HttpIdleClients> HttpIdleClients::Open(int port, int count,
                                                      absl::Duration timeout) {
  RaiseFdLimit();
  HttpIdleClients clients;
  clients.fds_.reserve(static_cast<size_t>(count));
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  // Connect and send on every connection first: the server answers them in
  // whatever order it accepts them.
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<int> fd = ConnectLoopback(port);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(),
                          absl::StrCat(fd.status().message(), " (connection ", i + 1, ")"));
    }
    clients.fds_.push_back(*fd);
    if (::send(*fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return absl::ErrnoToStatus(errno, absl::StrCat("send (connection ", i + 1, ")"));
    }
  }
  const timeval tv = absl::ToTimeval(timeout);
  std::string in;
  for (size_t i = 0; i < clients.fds_.size(); ++i) {
    const int fd = clients.fds_[i];
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    in.clear();
    std::optional<size_t> total;  // head + body, once the head is in
    while (!total || in.size() < *total) {
      char chunk[1024];
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        return n == 0 ? absl::UnavailableError(absl::StrCat(
                            "connection ", i + 1, " closed before its response was complete"))
                      : absl::ErrnoToStatus(errno, absl::StrCat("recv (connection ", i + 1,
                                                                "): no full response in time"));
      }
      in.append(chunk, static_cast<size_t>(n));
      if (total) continue;
      const size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const std::string head = absl::AsciiStrToLower(in.substr(0, end + 2));
      if (!absl::StartsWith(head, "http/1.1 200 ")) {
        return absl::UnavailableError(absl::StrCat("connection ", i + 1, ": answered '",
                                                   in.substr(0, in.find('\r')), "'"));
      }
      const size_t field = head.find("\r\ncontent-length:");
      uint64_t length = 0;
      if (field == std::string::npos ||
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(head).substr(
                                field + 17, head.find('\r', field + 2) - field - 17)),
                            &length)) {
        return absl::UnavailableError(
            absl::StrCat("connection ", i + 1, ": response without a Content-Length"));
      }
      total = end + 4 + length;
    }
  }
  return clients;
}

void HttpIdleClients::Close() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

absl::StatusOr<std::unique_ptr<NginxProcess>> NginxProcess::Start(const Options& options) {
  if (::access(options.nginx.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        options.nginx, " not found: install Debian's nginx-light (apt-get install nginx-light)"));
  }
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  char dir_template[] = "/tmp/readbuf-http-nginx.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
  const std::string prefix = dir_template;
  ::mkdir((prefix + "/tmp").c_str(), 0700);
  ::mkdir((prefix + "/logs").c_str(), 0700);
  const std::string error_log = prefix + "/logs/error.log";
  const std::string conf_path = prefix + "/nginx.conf";
  // One process that serves (master_process off), in the foreground.
  std::string body_literal;
  for (const char c : absl::string_view(kHttpHelloBody)) {
    if (c == '\n') {
      body_literal += "\\n";
    } else {
      if (c == '"' || c == '\\' || c == '$') body_literal += '\\';
      body_literal += c;
    }
  }
  const bool tls = !options.tls_cert.empty() && !options.tls_key.empty();
  const std::string tls_lines =
      tls ? absl::StrCat("    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_certificate ",
                         options.tls_cert, ";\n    ssl_certificate_key ", options.tls_key, ";\n")
          : "";
  const std::string conf = absl::StrCat(
      "# Generated by readbuf's bench/harness/http_suite.cc; removed after the run.\n",
      "daemon off;\nmaster_process off;\nworker_processes 1;\n",
      "worker_rlimit_nofile ", options.worker_connections * 2 + 64, ";\n",
      "pid ", prefix, "/nginx.pid;\n", "error_log ", error_log, " warn;\n",
      "events { worker_connections ", options.worker_connections, "; }\n",
      "http {\n  access_log off;\n",
      "  client_body_temp_path ", prefix, "/tmp;\n  proxy_temp_path ", prefix, "/tmp;\n",
      "  fastcgi_temp_path ", prefix, "/tmp;\n  uwsgi_temp_path ", prefix, "/tmp;\n",
      "  scgi_temp_path ", prefix, "/tmp;\n",
      "  keepalive_timeout 3600s;\n  keepalive_requests 1000000000;\n",
      "  client_header_timeout 3600s;\n",
      "  server {\n    listen 127.0.0.1:", *port, tls ? " ssl" : "", ";\n", tls_lines,
      "    location = / { default_type text/plain; return 200 \"", body_literal, "\"; }\n",
      "  }\n}\n");
  // Owns the directory from here on: every error path removes it.
  std::unique_ptr<NginxProcess> owner(new NginxProcess(-1, *port, prefix));
  if (!WriteText(conf_path, conf)) {
    return absl::InternalError(absl::StrCat("cannot write ", conf_path));
  }
  const std::string nginx = options.nginx;
  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    PinTo(options.cpu);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
    }
    ::execl(nginx.c_str(), nginx.c_str(), "-p", prefix.c_str(), "-c", conf_path.c_str(), "-e",
            error_log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  owner->pid_ = pid;
  // Ready once the port accepts.
  const absl::Time deadline = absl::Now() + options.start_timeout;
  for (;;) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      owner->stopped_ = true;
      std::ifstream log(error_log);
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      owner->dir_.clear();  // keep the log for whoever reads the message
      return absl::InternalError(absl::StrCat("nginx exited at start (", error_log,
                                              "): ", absl::StripAsciiWhitespace(text)));
    }
    absl::StatusOr<int> probe = ConnectLoopback(*port);
    if (probe.ok()) {
      ::close(*probe);
      break;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "nginx did not accept on port ", *port, " within ",
          absl::FormatDuration(options.start_timeout), "; see ", error_log));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return owner;
}

NginxProcess::~NginxProcess() {
  (void)Stop();
  if (!dir_.empty()) {
    for (const char* name : {"/nginx.conf", "/nginx.pid", "/logs/error.log"}) {
      ::unlink((dir_ + name).c_str());
    }
    ::rmdir((dir_ + "/logs").c_str());
    ::rmdir((dir_ + "/tmp").c_str());
    ::rmdir(dir_.c_str());
  }
}

absl::Status NginxProcess::Stop(absl::Duration grace) {
  if (stopped_ || pid_ <= 0) return absl::OkStatus();
  stopped_ = true;
  ::kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0) return absl::ErrnoToStatus(errno, "waitpid (nginx)");
    if (absl::Now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      return absl::DeadlineExceededError("nginx ignored SIGTERM; killed");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("nginx exited with status ", status));
}

absl::StatusOr<Measurement> RunHttpWorkload(const HttpServerSpec& server,
                                            const HttpWorkload& workload,
                                            const HttpRunOptions& options,
                                            const std::string& scratch_dir) {
  if (server.argv.empty()) return absl::InvalidArgumentError("empty server argv");
  const bool idle = workload.kind == HttpWorkload::Kind::kIdle;
  if (idle) RaiseFdLimit();  // the servers inherit it
  if (workload.tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat(workload.name, " runs over TLS: HttpRunOptions needs tls_cert and tls_key"));
  }

  // A fresh server: readbuf's (with a stats file) or nginx.
  std::unique_ptr<ServerProcess> readbuf;
  std::unique_ptr<NginxProcess> nginx;
  std::string stats_path;
  struct RemoveFile {
    std::string path;
    ~RemoveFile() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } remove_stats;
  pid_t pid = -1;
  int port = -1;
  if (server.kind == HttpServerSpec::Kind::kReadbuf) {
    stats_path = StatsPath();
    remove_stats.path = stats_path;
    ServerProcess::Options o;
    o.argv = server.argv;
    o.argv.push_back("--port=0");
    o.argv.push_back("--threads=1");
    o.argv.push_back(absl::StrCat("--stats_file=", stats_path));
    if (workload.tls) {
      o.argv.push_back(absl::StrCat("--tls_cert=", options.tls_cert));
      o.argv.push_back(absl::StrCat("--tls_key=", options.tls_key));
    }
    o.cpu = options.server_cpu;
    absl::StatusOr<std::unique_ptr<ServerProcess>> started = ServerProcess::Start(o);
    if (!started.ok()) return started.status();
    readbuf = *std::move(started);
    pid = readbuf->pid();
    port = readbuf->port();
  } else {
    NginxProcess::Options o;
    o.nginx = server.argv[0];
    o.cpu = options.server_cpu;
    o.worker_connections = std::max(1024, workload.connections + 256);
    if (workload.tls) {
      o.tls_cert = options.tls_cert;
      o.tls_key = options.tls_key;
    }
    absl::StatusOr<std::unique_ptr<NginxProcess>> started = NginxProcess::Start(o);
    if (!started.ok()) return started.status();
    nginx = *std::move(started);
    pid = nginx->pid();
    port = nginx->port();
  }
  auto stop = [&]() -> absl::Status {
    absl::Status s = readbuf ? readbuf->Stop() : nginx->Stop();
    if (!s.ok()) {
      return absl::InternalError(absl::StrCat(server.name, " did not stop cleanly: ", s.message()));
    }
    return absl::OkStatus();
  };

  Measurement m;
  m.server = server.name;
  m.workload = workload.name;
  m.connections = workload.connections;

  if (idle) {
    std::optional<TlsIdleClients> warm;
    if (workload.tls) {
      absl::StatusOr<TlsIdleClients> opened = TlsIdleClients::Open(port, kTlsWarmup);
      if (!opened.ok()) return opened.status();
      warm.emplace(*std::move(opened));
    }
    absl::SleepFor(workload.settle / 2);
    absl::StatusOr<size_t> before = ProcessRssBytes(pid);
    if (!before.ok()) return before.status();
    const absl::StatusOr<uint64_t> slab_before = KernelSlabBytes();
    std::optional<HttpIdleClients> clients;
    std::optional<TlsIdleClients> tls_clients;
    std::string protocol;
    if (workload.tls) {
      absl::StatusOr<TlsIdleClients> opened =
          TlsIdleClients::Open(port, workload.connections, &protocol);
      if (!opened.ok()) return opened.status();
      tls_clients.emplace(*std::move(opened));
    } else {
      absl::StatusOr<HttpIdleClients> opened =
          HttpIdleClients::Open(port, workload.connections, absl::Seconds(30));
      if (!opened.ok()) return opened.status();
      clients.emplace(*std::move(opened));
    }
    absl::SleepFor(workload.settle);
    absl::StatusOr<size_t> after = ProcessRssBytes(pid);
    if (!after.ok()) return after.status();
    const absl::StatusOr<uint64_t> slab_after = KernelSlabBytes();
    const double n = workload.connections;
    m.rss_bytes_per_connection =
        (static_cast<double>(*after) - static_cast<double>(*before)) / n;
    if (slab_before.ok() && slab_after.ok()) {
      m.kernel_slab_bytes_per_connection =
          (static_cast<double>(*slab_after) - static_cast<double>(*slab_before)) / n;
    }
    if (readbuf) {
      absl::StatusOr<ServerStats> st =
          RequestServerStats(pid, stats_path, SIGUSR1, kStatsTimeout);
      if (!st.ok()) return st.status();
      m.server_stats = *st;
      m.buffer_bytes_per_connection =
          static_cast<double>(Stat(*st, "pool_bytes_in_use") +
                              Stat(*st, "conn_owned_buffer_bytes")) /
          n;
      const uint64_t served = Stat(*st, "connections");
      const int held = workload.connections + (workload.tls ? kTlsWarmup : 0);
      if (served != static_cast<uint64_t>(held)) {
        AppendNote(m.note, absl::StrCat("server counted ", served, " connections"));
      }
    }
    if (!protocol.empty()) AppendNote(m.note, protocol);
    // Before the server stops: no grace period to wait out.
    if (clients) clients->Close();
    if (tls_clients) tls_clients->Close();
    if (warm) warm->Close();
    if (absl::Status s = stop(); !s.ok()) return s;
    return m;
  }

  std::string script;
  if (workload.kind == HttpWorkload::Kind::kPipelined) {
    script = absl::StrCat(scratch_dir, "/pipeline_", workload.pipeline, ".lua");
    if (!WriteText(script, PipelineScript(workload.pipeline))) {
      return absl::InternalError(absl::StrCat("cannot write ", script));
    }
  }
  absl::StatusOr<double> cpu_before = ProcessCpuSeconds(pid);
  if (!cpu_before.ok()) return cpu_before.status();
  absl::StatusOr<WrkResult> wrk = RunWrk(options.wrk, port, workload.connections,
                                         options.duration, script, options.client_cpu,
                                         workload.tls);
  if (!wrk.ok()) return wrk.status();
  absl::StatusOr<double> cpu_after = ProcessCpuSeconds(pid);
  if (!cpu_after.ok()) return cpu_after.status();
  if (wrk->requests == 0) return absl::UnavailableError("wrk completed no request");
  m.ops_per_second = wrk->requests_per_second;
  m.mib_per_second = wrk->mib_per_second;
  m.p50_us = wrk->p50_us;
  m.p99_us = wrk->p99_us;
  m.server_cpu_us_per_op =
      (*cpu_after - *cpu_before) * 1e6 / static_cast<double>(wrk->requests);
  if (wrk->socket_errors != 0) {
    AppendNote(m.note, absl::StrCat(wrk->socket_errors, " wrk socket errors"));
  }
  if (wrk->non_2xx != 0) AppendNote(m.note, absl::StrCat(wrk->non_2xx, " non-2xx responses"));
  if (wrk->latency_incomplete) {
    AppendNote(m.note, "wrk's latency distribution came out partly 0 (wg/wrk#236): n/a");
  } else if (workload.kind == HttpWorkload::Kind::kPipelined) {
    AppendNote(m.note, absl::StrCat("latency per batch of ", workload.pipeline));
  }
  if (readbuf) {
    absl::StatusOr<ServerStats> st = RequestServerStats(pid, stats_path, SIGUSR1, kStatsTimeout);
    if (st.ok()) m.server_stats = *st;
  }
  if (absl::Status s = stop(); !s.ok()) return s;
  return m;
}

}  // namespace readbuf::bench
