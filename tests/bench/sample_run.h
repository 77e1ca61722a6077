// -----------------------------------------------------------------------------
// File: tests/bench/sample_run.h
// -----------------------------------------------------------------------------
//
// A small ReportRun for the writer tests: two workloads (pingpong-64B, idle),
// three servers (pooled-epoll, uring-uring, asio-eager as the baseline), one
// failed run, and text that needs escaping in every output format.

#ifndef READBUF_TESTS_BENCH_SAMPLE_RUN_H_
#define READBUF_TESTS_BENCH_SAMPLE_RUN_H_

#include "bench/report_run.h"

namespace readbuf::bench {

inline ReportRun SampleRun() {
  ReportRun run;
  run.generated = "2026-01-02T03:04:05Z";
  run.machine = "Test CPU <1> \"fast\", 2 CPUs";
  run.duration_seconds = 1.5;
  run.idle_connections = 1000;
  run.pinning = "server on CPU 0, load generator on CPU 1";
  run.workloads = {{"pingpong-64B", Workload::Kind::kPingPong, 50, 64, absl::ZeroDuration()},
                   {"idle", Workload::Kind::kIdle, 1000, 0, absl::ZeroDuration()}};
  run.servers = {"pooled-epoll", "uring-uring", "asio-eager"};
  run.notes = {"idle: scaled N from 10000 to 1000 & more"};

  Measurement pooled;
  pooled.server = "pooled-epoll";
  pooled.workload = "pingpong-64B";
  pooled.connections = 50;
  pooled.ops_per_second = 20000;
  pooled.mib_per_second = 1.25;
  pooled.p50_us = 40;
  pooled.p99_us = 90;
  pooled.server_cpu_us_per_op = 3;
  pooled.syscalls_per_op = 2.5;
  pooled.allocs_per_op = 0.25;
  pooled.server_stats = {{"pool_misses", 7}, {"seq", 2}};
  Measurement base = pooled;
  base.server = "asio-eager";
  base.ops_per_second = 10000;
  base.server_cpu_us_per_op = 6;
  base.syscalls_per_op.reset();  // e.g. no tracefs
  base.syscalls_unavailable = "tracefs is not mounted";
  base.allocs_per_op = 1;
  base.server_stats.clear();
  base.note = "perf | unavailable";

  Measurement pooled_idle;
  pooled_idle.server = "pooled-epoll";
  pooled_idle.workload = "idle";
  pooled_idle.connections = 1000;
  pooled_idle.rss_bytes_per_connection = 1500;
  pooled_idle.buffer_bytes_per_connection = 0;
  pooled_idle.kernel_slab_bytes_per_connection = 9000;
  pooled_idle.allocs_per_op = 2;
  Measurement base_idle = pooled_idle;
  base_idle.server = "asio-eager";
  base_idle.rss_bytes_per_connection = 3000;
  base_idle.buffer_bytes_per_connection.reset();  // peers have no stats file
  base_idle.kernel_slab_bytes_per_connection.reset();  // e.g. no /proc/meminfo
  base_idle.allocs_per_op = 3;
  Measurement ring_idle = pooled_idle;
  ring_idle.server = "uring-uring";
  ring_idle.rss_bytes_per_connection = 6000;
  ring_idle.buffer_bytes_per_connection = 4096;
  ring_idle.syscalls_unavailable = "tracefs is not mounted";

  run.results = {pooled, base, pooled_idle, base_idle, ring_idle};
  run.failures = {{"uring-uring", "pingpong-64B", "UNAVAILABLE: \"exited\"\nbefore <port>"}};
  return run;
}

}  // namespace readbuf::bench

#endif  // READBUF_TESTS_BENCH_SAMPLE_RUN_H_
