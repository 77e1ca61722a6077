// -----------------------------------------------------------------------------
// File: bench/report_json.h
// -----------------------------------------------------------------------------
//
// Renders a ReportRun as JSON (the raw results of //bench:report): settings,
// machine, one object per (server, workload) with every metric, the server's
// stats line where it has one, and the failures. Metrics that were not
// measured are null, never 0. Schema "readbuf-report/1":
//
//   {"schema": ..., "generated": ..., "machine": ..., "quick": bool,
//    "duration_seconds": x, "idle_connections": n, "pinning": ...,
//    "baseline": "asio-eager", "workloads": [...], "servers": [...],
//    "http_baseline": "nginx", "http_duration_seconds": x,
//    "http_workloads": [...], "http_servers": [...],
//    "notes": [...], "results": [{"server", "workload", "connections",
//    "ops_per_second", "mib_per_second", "p50_us", "p99_us",
//    "server_cpu_us_per_op", "syscalls_per_op", "allocs_per_op",
//    "rss_bytes_per_connection", "buffer_bytes_per_connection", "note",
//    "server_stats": {...}}], "failures": [{"server", "workload", "error"}]}
//
// Every server in "servers" has a result (or a failure) for every workload in
// "workloads", and likewise "http_servers" for "http_workloads"; the HTTP
// results use the same fields (ops_per_second: requests/s; p50_us/p99_us:
// wrk's; server_cpu_us_per_op: per request).

#ifndef READBUF_BENCH_REPORT_JSON_H_
#define READBUF_BENCH_REPORT_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "bench/report_run.h"

namespace readbuf::bench {

std::string ReportJson(const ReportRun& run);

// `s` as a JSON string literal, quotes included (control characters escaped).
std::string JsonString(absl::string_view s);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_REPORT_JSON_H_
