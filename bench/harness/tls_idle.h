// -----------------------------------------------------------------------------
// File: bench/harness/tls_idle.h
// -----------------------------------------------------------------------------
//
// Resident memory per idle TLS connection: a server process is started,
// `warmup` TLS connections are opened (the library's one-time state settles),
// its RSS is read, then `connections` more are opened, every handshake
// completed, and nothing else is sent; once its RSS stops moving it is read
// again. bytes_per_connection = (after - before) / connections. The clients
// live in this process (nonblocking sockets, SSL_do_handshake driven by
// poll, 64 handshakes in flight; the client SSL objects are freed after the
// handshake, their sockets stay open), so client and server each stay under
// the 20,000 open-files limit.
//
// Servers measured (each a function, so the report can call them):
//   MeasureReadbufTlsIdle  examples/echo_server --tls_cert/--tls_key with a
//                          policy (pooled, uninit, ...), one core, epoll or
//                          io_uring
//   MeasureNginxTlsIdle    Debian's nginx (nginx-light), `listen ... ssl`, one
//                          worker, from a config generated in a temporary
//                          directory and run in the foreground -- never as a
//                          system service; the worker's RSS is measured
//
// Example:
//
//   TlsIdleOptions o{.connections = 10000, .cert_file = c, .key_file = k};
//   absl::StatusOr<TlsIdleResult> r = MeasureReadbufTlsIdle(echo_server, "pooled", o);
//   absl::StatusOr<TlsIdleResult> n = MeasureNginxTlsIdle("/usr/sbin/nginx", o);

#ifndef READBUF_BENCH_HARNESS_TLS_IDLE_H_
#define READBUF_BENCH_HARNESS_TLS_IDLE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace readbuf::bench {

struct TlsIdleOptions {
  // Idle TLS connections measured. REQUIRES: 1..19000.
  int connections = 10000;
  // Connections opened before the first RSS reading.
  int warmup = 100;
  // The server's certificate and key (PEM files).
  std::string cert_file;
  std::string key_file;
  // CPU the server is pinned to (-1: none).
  int server_cpu = 0;
  // "epoll" or "uring", for readbuf's server.
  std::string backend = "epoll";
  // How long RSS must stay within 0.5% to count as settled (at most 20
  // tries).
  absl::Duration settle = absl::Milliseconds(500);
};

struct TlsIdleResult {
  std::string server;        // "readbuf pooled (epoll)", "nginx 1 worker"
  int connections = 0;
  size_t rss_before = 0;     // after the warm-up connections
  size_t rss_after = 0;      // with every connection idle
  double bytes_per_connection = 0;
  double handshake_seconds = 0;  // to open `connections`
  std::string protocol;          // what the clients negotiated, e.g. "TLSv1.3"
};

// N client TLS connections to 127.0.0.1:port, handshakes complete, kept
// open (silent) until destroyed.
class TlsIdleClients {
 public:
  // Errors: a connect or handshake failed (naming which and why).
  static absl::StatusOr<TlsIdleClients> Open(int port, int count, std::string* protocol = nullptr);
  TlsIdleClients(TlsIdleClients&& o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
  TlsIdleClients& operator=(TlsIdleClients&&) = delete;
  ~TlsIdleClients();
  size_t size() const { return fds_.size(); }

 private:
  TlsIdleClients() = default;
  std::vector<int> fds_;
};

// REQUIRES: `echo_server` is examples/echo_server; `policy` one of its
// --policy values but uring.
absl::StatusOr<TlsIdleResult> MeasureReadbufTlsIdle(const std::string& echo_server,
                                                    const std::string& policy,
                                                    const TlsIdleOptions& options);

// Errors: NotFound when `nginx` is not there (install Debian's nginx-light).
absl::StatusOr<TlsIdleResult> MeasureNginxTlsIdle(const std::string& nginx,
                                                  const TlsIdleOptions& options);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_TLS_IDLE_H_
