// -----------------------------------------------------------------------------
// File: bench/harness/loadgen.h
// -----------------------------------------------------------------------------
//
// A load generator for echo servers on loopback, used by the benchmarks and
// the report. One thread, one epoll loop, non-blocking sockets; run it on a
// different core from the server. Three workloads:
//
//   RunPingPong      N connections each send a message, wait for all of it to
//                    come back (checked byte for byte), and repeat. Reports
//                    round trips, and p50/p99 round-trip latency. Plain TCP
//                    or TLS.
//   RunStream        N connections each keep writing chunks while reading the
//                    echo back, at most a few chunks in flight. Reports bytes
//                    echoed.
//   IdleConnections  N connections that send nothing, so the server has N
//                    reads pending (for memory-per-connection figures).
//
// Example:
//
//   absl::StatusOr<LoadResult> r = RunPingPong(port, 50, 64, absl::Seconds(3));

#ifndef READBUF_BENCH_HARNESS_LOADGEN_H_
#define READBUF_BENCH_HARNESS_LOADGEN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace readbuf::bench {

struct LoadResult {
  uint64_t ops = 0;      // round trips (ping-pong) or chunks echoed (stream)
  uint64_t bytes = 0;    // bytes that came back
  double seconds = 0;    // measured time
  double p50_us = 0;     // ping-pong round-trip latency
  double p99_us = 0;
};

// `tls`: every connection first completes a TLS handshake (the server's
// certificate is not verified) and each message is one TLS record.
// REQUIRES: connections > 0, message_size > 0.
absl::StatusOr<LoadResult> RunPingPong(int port, int connections, size_t message_size,
                                       absl::Duration duration, bool tls = false);

// REQUIRES: connections > 0, chunk_size > 0.
absl::StatusOr<LoadResult> RunStream(int port, int connections, size_t chunk_size,
                                     absl::Duration duration);

// N open, silent connections; closed on destruction.
class IdleConnections {
 public:
  // Errors: a connect failed (e.g. EMFILE: the fd limit; the message says so).
  static absl::StatusOr<IdleConnections> Open(int port, int count);
  IdleConnections(IdleConnections&& other) noexcept : fds_(std::move(other.fds_)) {
    other.fds_.clear();
  }
  IdleConnections& operator=(IdleConnections&&) = delete;
  ~IdleConnections() { Close(); }
  size_t size() const { return fds_.size(); }

  // Closes every connection now; size() becomes 0.
  void Close();

  // Sends one byte on every connection and reads the echo, proving each is
  // served. Errors: a connection failed or did not echo within `timeout`.
  absl::Status EchoOnce(absl::Duration timeout);

 private:
  IdleConnections() = default;
  std::vector<int> fds_;
};

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_LOADGEN_H_
