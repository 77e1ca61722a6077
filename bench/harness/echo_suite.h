// -----------------------------------------------------------------------------
// File: bench/harness/echo_suite.h
// -----------------------------------------------------------------------------
//
// Runs one echo server (readbuf's or a peer's) through one workload and
// measures it from the outside, the same way for every server:
//
//   ping-pong / stream   ops/s, MiB/s, p50/p99 round trip, server CPU time per
//                        op (from /proc), server syscalls per op (perf
//                        tracepoint counter; "n/a" without permission)
//   idle                 RSS per connection: the server's RSS after N silent
//                        connections were each echoed once, minus before
//
// Each run starts a fresh server process pinned to `server_cpu`; the caller's
// thread (the load generator) should be pinned elsewhere (PinThisThread).

#ifndef READBUF_BENCH_HARNESS_ECHO_SUITE_H_
#define READBUF_BENCH_HARNESS_ECHO_SUITE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace readbuf::bench {

struct ServerSpec {
  std::string name;               // e.g. "asio-eager", "readbuf-pooled-epoll"
  std::vector<std::string> argv;  // must print "listening <port>"; gets --port=0
};

struct Workload {
  enum class Kind { kPingPong, kStream, kIdle };
  std::string name;  // e.g. "pingpong-64B"
  Kind kind;
  int connections;
  size_t message_size;  // ping-pong message / stream chunk; unused for idle
};

struct Measurement {
  std::string server;
  std::string workload;
  double ops_per_second = 0;
  double mib_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double server_cpu_us_per_op = 0;
  std::optional<double> syscalls_per_op;  // nullopt: counter unavailable
  std::optional<double> rss_bytes_per_connection;  // idle only
  int connections = 0;  // as run (idle may be scaled down; see note)
  std::string note;     // anything the reader should know (scaled N, ...)
};

// Pins the calling thread to `cpu` (no-op if cpu < 0 or out of range).
void PinThisThread(int cpu);

// REQUIRES: spec.argv non-empty.
absl::StatusOr<Measurement> RunEchoWorkload(const ServerSpec& spec, const Workload& workload,
                                            absl::Duration duration, int server_cpu);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_ECHO_SUITE_H_
