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
//                        connections were each echoed once, minus before;
//                        buffer bytes held per connection (readbuf servers:
//                        pool bytes in use + non-pool policy buffers, from
//                        the server's --stats_file line); kernel slab
//                        growth per connection, both ends (/proc/meminfo)
//   all                  heap allocations per op (per connection for idle):
//                        malloc-family calls counted by alloc_count_preload.so
//                        (LD_PRELOAD) plus, for readbuf servers, BufferPool
//                        misses (blocks taken straight from mimalloc)
//
// Each run starts a fresh server process pinned to `server_cpu`; the caller's
// thread (the load generator) should be pinned elsewhere (PinThisThread).

#ifndef READBUF_BENCH_HARNESS_ECHO_SUITE_H_
#define READBUF_BENCH_HARNESS_ECHO_SUITE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace readbuf::bench {

struct ServerSpec {
  std::string name;               // e.g. "asio-eager", "readbuf-pooled-epoll"
  std::vector<std::string> argv;  // must print "listening <port>"; gets --port=0
  // The server takes --stats_file=PATH (examples/echo_server's contract).
  bool has_stats_file = false;
  // Path of alloc_count_preload.so to LD_PRELOAD into the server; empty: do
  // not count allocations.
  std::string alloc_preload;
  // Flags that make the server speak TLS (e.g. --tls_cert=... --tls_key=...)
  // for workloads with `tls`; empty: it has no TLS.
  std::vector<std::string> tls_flags;
};

struct Workload {
  enum class Kind { kPingPong, kStream, kIdle };
  std::string name;  // e.g. "pingpong-64B"
  Kind kind;
  int connections;
  size_t message_size;  // ping-pong message / stream chunk; unused for idle
  // idle: how long the server may settle after the connections were echoed,
  // before RSS and stats are read.
  absl::Duration settle = absl::Milliseconds(500);
  // Ping-pong over TLS: the server gets ServerSpec::tls_flags, the load
  // generator handshakes first and sends each message as one record.
  bool tls = false;
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
  // Why syscalls_per_op is nullopt. The same for every row of a run (no
  // tracefs, no permission), so the report states it once, under the tables.
  std::string syscalls_unavailable;
  std::optional<double> rss_bytes_per_connection;  // idle only
  // idle only; nullopt for servers without --stats_file.
  std::optional<double> buffer_bytes_per_connection;
  // Idle only: growth of the kernel's slab per connection, machine-wide, so
  // both ends of each loopback connection (kernel_slab.h). nullopt: no
  // /proc/meminfo.
  std::optional<double> kernel_slab_bytes_per_connection;
  // Per op; for idle, per connection. nullopt: not counted.
  std::optional<double> allocs_per_op;
  // The server's stats lines (readbuf servers) after the run; empty otherwise.
  std::map<std::string, uint64_t> server_stats;
  int connections = 0;  // as run (idle may be scaled down; see note)
  std::string note;     // anything the reader should know (scaled N, ...)
};

// Pins the calling thread to `cpu` (no-op if cpu < 0 or out of range).
void PinThisThread(int cpu);

// REQUIRES: spec.argv non-empty. Errors: InvalidArgument for a TLS workload
// that is not ping-pong, or a server without tls_flags.
absl::StatusOr<Measurement> RunEchoWorkload(const ServerSpec& spec, const Workload& workload,
                                            absl::Duration duration, int server_cpu);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_ECHO_SUITE_H_
