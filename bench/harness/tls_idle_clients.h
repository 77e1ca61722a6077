// -----------------------------------------------------------------------------
// File: bench/harness/tls_idle_clients.h
// -----------------------------------------------------------------------------
//
// TlsIdleClients: N TLS client connections to a local server, every
// handshake complete, then silent until destroyed -- what the report's
// tls-idle workload holds open while it reads the server's memory. The
// clients live in the calling process: non-blocking sockets, SSL_do_handshake
// driven by poll(), 64 handshakes in flight. Each client SSL object is freed
// once its handshake is done (no close_notify; the socket stays open), so the
// caller holds only fds. The server's certificate is not verified: memory,
// not trust, is measured.
//
// Thread safety: none; use from one thread.

#ifndef READBUF_BENCH_HARNESS_TLS_IDLE_CLIENTS_H_
#define READBUF_BENCH_HARNESS_TLS_IDLE_CLIENTS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace readbuf::bench {

class TlsIdleClients {
 public:
  // Connects `count` clients to 127.0.0.1:port and completes their
  // handshakes. `protocol`, if given, receives what they negotiated
  // ("TLSv1.3"). Errors: a connect or handshake failed (naming which and
  // why), or handshakes stalled for 20 s.
  static absl::StatusOr<TlsIdleClients> Open(int port, int count, std::string* protocol = nullptr);
  TlsIdleClients(TlsIdleClients&& o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
  TlsIdleClients& operator=(TlsIdleClients&&) = delete;
  ~TlsIdleClients() { Close(); }
  size_t size() const { return fds_.size(); }
  // Closes every connection. Idempotent.
  void Close();

 private:
  TlsIdleClients() = default;
  std::vector<int> fds_;
};

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_TLS_IDLE_CLIENTS_H_
