// -----------------------------------------------------------------------------
// File: bench/report_svg.h
// -----------------------------------------------------------------------------
//
// Renders a ReportRun as a standalone SVG chart (hand-written SVG 1.1 text,
// no scripts, no external fonts): one panel per workload, one horizontal bar
// per server, with the panel's metric and unit in its title, a labelled x
// axis with gridlines, the value (and the ratio against asio-eager) printed
// at the end of every bar, and a colour legend (readbuf on epoll, readbuf on
// io_uring, peers). Ping-pong panels show ops/s, stream panels MiB/s, the
// idle panel RSS bytes per connection (with the read-buffer bytes held per
// connection beside readbuf's bars). The HTTP panels follow, over the HTTP
// servers with ratios against nginx: requests/s for http-keepalive and
// http-pipelined, RSS per keep-alive connection for http-idle. Failed runs
// show "failed".

#ifndef READBUF_BENCH_REPORT_SVG_H_
#define READBUF_BENCH_REPORT_SVG_H_

#include <string>

#include "absl/strings/string_view.h"
#include "bench/report_run.h"

namespace readbuf::bench {

std::string ReportSvg(const ReportRun& run);

// `s` with &, <, >, " escaped for SVG text and attributes.
std::string SvgEscape(absl::string_view s);

// An x axis from 0 to `end` with a gridline every `step` (1, 2, 2.5 or 5
// times a power of ten), `ticks` = end / step steps, at most 5; `end` is the
// smallest such multiple >= the largest value.
struct ChartAxis {
  double end;
  double step;
  int ticks;
};
ChartAxis NiceAxis(double max_value);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_REPORT_SVG_H_
