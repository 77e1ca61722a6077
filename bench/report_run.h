// -----------------------------------------------------------------------------
// File: bench/report_run.h
// -----------------------------------------------------------------------------
//
// ReportRun: everything one run of //bench:report measured, in the order it
// ran, plus what is needed to read it (machine, settings, failures). The
// table, JSON and SVG writers (report_table.h, report_json.h, report_svg.h)
// all render this one value. Echo workloads run on `servers`; the HTTP
// workloads (http_suite.h) on `http_servers` (readbuf's http_server as
// <policy>-<backend>, and nginx, their baseline).

#ifndef READBUF_BENCH_REPORT_RUN_H_
#define READBUF_BENCH_REPORT_RUN_H_

#include <algorithm>
#include <string>
#include <vector>

#include "bench/harness/echo_suite.h"
#include "bench/harness/http_suite.h"

namespace readbuf::bench {

// The server every ratio is taken against.
inline constexpr char kBaselineServer[] = "asio-eager";
// The same for the HTTP workloads.
inline constexpr char kHttpBaselineServer[] = "nginx";

struct ReportFailure {
  std::string server;
  std::string workload;
  std::string error;
};

struct ReportRun {
  std::string generated;     // UTC time the run started, RFC 3339
  std::string machine;       // CPU model, core count, kernel
  bool quick = false;
  double duration_seconds = 0;  // per ping-pong/stream run
  int idle_connections = 0;     // asked for (rows say what ran)
  std::string pinning;          // where server and load generator ran
  std::vector<Workload> workloads;   // in run order
  std::vector<std::string> servers;  // in run order
  std::vector<HttpWorkload> http_workloads;   // in run order, after the echo ones
  std::vector<std::string> http_servers;      // in run order
  double http_duration_seconds = 0;           // per wrk run
  std::vector<Measurement> results;
  std::vector<ReportFailure> failures;
  // Pairs not run on purpose (a TLS workload on a server without TLS); the
  // error field says why.
  std::vector<ReportFailure> skipped;
  std::vector<std::string> notes;    // run-wide remarks (scaled N, ...)
};

// The result of `server` on `workload`, or nullptr.
inline const Measurement* FindResult(const ReportRun& run, const std::string& server,
                                     const std::string& workload) {
  for (const Measurement& m : run.results) {
    if (m.server == server && m.workload == workload) return &m;
  }
  return nullptr;
}

// Adds to run.notes, once per distinct reason, why syscalls/op is n/a
// (Measurement::syscalls_unavailable): it is the same for every row of a run,
// so it goes under the tables rather than into each row's note.
inline void NoteUnavailableSyscalls(ReportRun& run) {
  std::vector<std::string> reasons;
  for (const Measurement& m : run.results) {
    if (m.syscalls_unavailable.empty()) continue;
    if (std::find(reasons.begin(), reasons.end(), m.syscalls_unavailable) != reasons.end()) {
      continue;
    }
    reasons.push_back(m.syscalls_unavailable);
    run.notes.push_back("syscalls/op is n/a: " + m.syscalls_unavailable);
  }
}

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_REPORT_RUN_H_
