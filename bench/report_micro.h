// -----------------------------------------------------------------------------
// File: bench/report_micro.h
// -----------------------------------------------------------------------------
//
// The report's micro-benchmark part (//bench:report --micro): runs the Google
// Benchmark binaries read_buf_benchmark and buffer_pool_benchmark one after
// another, prints one markdown table per binary and the goal ratios the
// project states (Uninit vs Zeroed, Dyn vs Uninit, ...), and optionally keeps
// their raw JSON.

#ifndef READBUF_BENCH_REPORT_MICRO_H_
#define READBUF_BENCH_REPORT_MICRO_H_

#include <string>

namespace readbuf::bench {

struct MicroOptions {
  std::string runfiles_root;  // where bench/read_buf_benchmark etc. are
  double min_time = 0.3;      // seconds per case (Google Benchmark's min_time)
  std::string filter;         // --benchmark_filter; empty: all
  std::string json_dir;       // keep raw JSON here; empty: do not
};

// Prints the tables on stdout, progress on stderr. Returns the number of
// binaries that failed (0 on success).
int RunMicroBenchmarks(const MicroOptions& options);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_REPORT_MICRO_H_
