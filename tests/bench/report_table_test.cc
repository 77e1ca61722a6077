#include "bench/report_table.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/bench/sample_run.h"

namespace readbuf::bench {
namespace {

TEST(ReportMarkdownTest, RatiosAgainstAsioEager) {
  const std::string md = ReportMarkdown(SampleRun());
  // ops 20000 vs 10000; CPU 3 vs 6 us/op.
  EXPECT_NE(md.find("| pooled-epoll | 20000 | 1.2 | 2.00x | 40.0 | 90.0 | 3.00 | 0.50x | 2.50 | "
                    "0.25 |  |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| asio-eager | 10000 | 1.2 | 1.00x |"), std::string::npos) << md;
}

TEST(ReportMarkdownTest, UnmeasuredIsNaAndPipesAreEscaped) {
  const std::string md = ReportMarkdown(SampleRun());
  EXPECT_NE(md.find("| 6.00 | 1.00x | n/a | 1.00 | perf \\| unavailable |"), std::string::npos)
      << md;
  // Peers have no buffer stats.
  EXPECT_NE(md.find("| asio-eager | 1000 | 3000 | 1.00x | n/a | 3.00 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| uring-uring | 1000 | 6000 | 2.00x | 4096 | 2.00 |"), std::string::npos)
      << md;
}

TEST(ReportMarkdownTest, ListsFailuresAndNotes) {
  const std::string md = ReportMarkdown(SampleRun());
  EXPECT_NE(md.find("### Failed runs"), std::string::npos);
  EXPECT_NE(md.find("| uring-uring | pingpong-64B | UNAVAILABLE: \"exited\" before <port> |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- idle: scaled N from 10000 to 1000 & more"), std::string::npos);
}

TEST(ReportMarkdownTest, ColumnHelpNamesEveryColumn) {
  const std::string md = ReportMarkdown(SampleRun());
  for (const char* column : {"ops/s", "MiB/s", "vs base", "p50", "p99", "CPU us/op",
                             "CPU vs base", "syscalls/op", "allocs/op", "conns", "RSS B/conn",
                             "RSS vs base", "buffer B/conn", "allocs/conn"}) {
    EXPECT_TRUE(absl::StrContains(md, column)) << column;
    EXPECT_TRUE(absl::StrContains(kReportColumnHelp, column)) << column;
  }
}

}  // namespace
}  // namespace readbuf::bench
