// -----------------------------------------------------------------------------
// File: bench/report_table.h
// -----------------------------------------------------------------------------
//
// Renders a ReportRun as markdown: one table per workload, a row per server,
// with ratios against asio-eager (kBaselineServer), or nginx
// (kHttpBaselineServer) for the HTTP workloads. "n/a" marks a metric that
// could not be measured for that server (e.g. pool stats of a peer), "-" a
// ratio without a baseline. kReportColumnHelp explains every column; the
// report's --help prints it.

#ifndef READBUF_BENCH_REPORT_TABLE_H_
#define READBUF_BENCH_REPORT_TABLE_H_

#include <string>

#include "bench/report_run.h"

namespace readbuf::bench {

// One line per column of the tables below.
extern const char kReportColumnHelp[];

std::string ReportMarkdown(const ReportRun& run);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_REPORT_TABLE_H_
