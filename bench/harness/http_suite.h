// -----------------------------------------------------------------------------
// File: bench/harness/http_suite.h
// -----------------------------------------------------------------------------
//
// Runs one HTTP server -- readbuf's examples/http_server or nginx (Debian's
// nginx-light, from a config generated in a temporary directory) -- through
// one HTTP workload, measured from the outside the same way for both:
//
//   keep-alive / pipelined  wrk -t1 -cN --latency (a Lua script makes every
//                           write carry `pipeline` requests): requests/s,
//                           p50/p99 from wrk's latency distribution, server
//                           CPU time (utime + stime, /proc) per request
//   idle                    N keep-alive connections, each after one GET /
//                           answered in full (over TLS: each after its
//                           handshake, silent): RSS per connection ((RSS
//                           with them - RSS before) / N), the kernel's slab
//                           per connection (kernel_slab.h) and, for
//                           readbuf, the read-buffer bytes held per
//                           connection (its --stats_file line, as for
//                           echo_server)
// A workload with `tls` runs over TLS: http_server --tls_cert/--tls_key and
// nginx `listen ssl`, with the same certificate.
//
// The results are Measurements (echo_suite.h), so the report's writers
// render them beside the echo rows. The server is pinned to `server_cpu`;
// wrk and the idle clients run on `client_cpu`.
//
// Example:
//
//   HttpServerSpec readbuf{.name = "pooled-epoll", .argv = {http_server,
//                          "--policy=pooled", "--backend=epoll"}};
//   HttpRunOptions o{.wrk = "/usr/bin/wrk", .duration = absl::Seconds(5)};
//   absl::StatusOr<Measurement> m = RunHttpWorkload(readbuf, keepalive, o);

#ifndef READBUF_BENCH_HARNESS_HTTP_SUITE_H_
#define READBUF_BENCH_HARNESS_HTTP_SUITE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bench/harness/echo_suite.h"

namespace readbuf::bench {

// The body both servers answer GET / with (examples/http_server's kHello).
inline constexpr char kHttpHelloBody[] = "Hello, world!\n";

struct HttpWorkload {
  enum class Kind { kKeepAlive, kPipelined, kIdle };
  // "http-keepalive", "http-pipelined", "http-idle", "https-keepalive",
  // "tls-idle"
  std::string name;
  Kind kind = Kind::kKeepAlive;
  int connections = 50;  // wrk -c, or the idle connections
  int pipeline = 1;      // requests per write (kPipelined)
  // idle: how long the server may settle after the requests were answered,
  // before RSS and stats are read.
  absl::Duration settle = absl::Milliseconds(500);
  // Over TLS (HttpRunOptions::tls_cert): wrk speaks https; an idle client
  // completes its handshake and sends nothing (tls_idle_clients.h), after
  // 100 warm-up connections that settle the TLS library's one-time state.
  bool tls = false;
};

struct HttpServerSpec {
  enum class Kind { kReadbuf, kNginx };
  std::string name;  // "pooled-epoll", "nginx"
  Kind kind = Kind::kReadbuf;
  // kReadbuf: examples/http_server and its flags (--port=0, --threads=1 and
  // --stats_file are added). kNginx: argv[0] is the nginx binary.
  std::vector<std::string> argv;
};

struct HttpRunOptions {
  std::string wrk = "/usr/bin/wrk";
  // PEM certificate and key the servers use for TLS workloads (readbuf's
  // --tls_cert/--tls_key, nginx's ssl_certificate). REQUIRES: set when a
  // workload has tls.
  std::string tls_cert;
  std::string tls_key;
  absl::Duration duration = absl::Seconds(2);  // per wrk run
  int server_cpu = 0;  // -1: not pinned
  int client_cpu = 1;  // wrk's CPU; -1: not pinned
};

// What one wrk run printed.
struct WrkResult {
  uint64_t requests = 0;   // "<N> requests in <T>"
  double seconds = 0;      // <T>
  double requests_per_second = 0;
  double mib_per_second = 0;  // "Transfer/sec"
  double p50_us = 0;
  double p99_us = 0;
  // wrk printed 0 for some percentiles although requests completed: a known
  // wrk fault with pipelined requests (wg/wrk#236, #354). p50/p99 are then 0.
  bool latency_incomplete = false;
  uint64_t socket_errors = 0;  // connect + read + write + timeout
  uint64_t non_2xx = 0;        // "Non-2xx or 3xx responses"
};

// Parses wrk's output (run with --latency). Errors: InvalidArgument naming
// the line that is missing or malformed.
absl::StatusOr<WrkResult> ParseWrkOutput(absl::string_view out);

// The wrk Lua script that sends `pipeline` GET / requests per write.
std::string PipelineScript(int pipeline);

// Runs `wrk -t1 -c<connections> -d<duration> --latency [-s script]` against
// http://127.0.0.1:port/ (https:// with `https`) pinned to `cpu`. wrk's -d takes whole seconds: a shorter
// or fractional duration is ended by SIGINT, after which wrk reports what it
// measured up to then. Errors: wrk missing, failed, or printed no result.
absl::StatusOr<WrkResult> RunWrk(const std::string& wrk, int port, int connections,
                                 absl::Duration duration, const std::string& script, int cpu,
                                 bool https = false);

// N connections to 127.0.0.1:port that each sent one GET / and read the whole
// response, then stay open and silent (keep-alive) until closed.
class HttpIdleClients {
 public:
  // Errors: a connect failed, or a response did not come (in full, with
  // status 200) within `timeout`.
  static absl::StatusOr<HttpIdleClients> Open(int port, int count, absl::Duration timeout);
  HttpIdleClients(HttpIdleClients&& o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
  HttpIdleClients& operator=(HttpIdleClients&&) = delete;
  ~HttpIdleClients() { Close(); }
  size_t size() const { return fds_.size(); }
  void Close();

 private:
  HttpIdleClients() = default;
  std::vector<int> fds_;
};

// nginx in the foreground (daemon off, master_process off: one process that
// serves), from a config written to a fresh mkdtemp directory that is also
// its prefix (-p), with its own error log (-e) there; never a system
// service. Plain HTTP, or HTTPS with Options::tls_cert. It answers
// `location = /` with 200 and kHttpHelloBody, logs no
// access, keeps connections alive for an hour and a billion requests.
class NginxProcess {
 public:
  struct Options {
    std::string nginx = "/usr/sbin/nginx";
    int cpu = -1;                    // pin to this CPU; -1 = no pinning
    int worker_connections = 1024;   // raise for the idle workload
    // Both set: `listen ... ssl` with this certificate and key (TLS 1.2 and
    // 1.3; nginx 1.22 leaves 1.3 out by default).
    std::string tls_cert;
    std::string tls_key;
    absl::Duration start_timeout = absl::Seconds(10);
  };
  // Errors: NotFound if the binary is missing (install nginx-light); nginx
  // exited at start or did not accept within start_timeout (the message
  // names its error log).
  static absl::StatusOr<std::unique_ptr<NginxProcess>> Start(const Options& options);
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;
  ~NginxProcess();  // Stop(), and the temporary directory is removed

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGTERM (nginx's fast shutdown), then SIGKILL after `grace`. OK if it
  // exited with status 0. Idempotent.
  absl::Status Stop(absl::Duration grace = absl::Seconds(5));

 private:
  NginxProcess(pid_t pid, int port, std::string dir) : pid_(pid), port_(port), dir_(std::move(dir)) {}
  pid_t pid_;
  int port_;
  std::string dir_;
  bool stopped_ = false;
};

// Runs `server` through `workload`: a fresh server process per call.
// `scratch_dir` holds the wrk script (an existing, writable directory).
absl::StatusOr<Measurement> RunHttpWorkload(const HttpServerSpec& server,
                                            const HttpWorkload& workload,
                                            const HttpRunOptions& options,
                                            const std::string& scratch_dir);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_HTTP_SUITE_H_
