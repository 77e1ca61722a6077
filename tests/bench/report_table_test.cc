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
  EXPECT_NE(md.find("| asio-eager | 1000 | 3000 | 1.00x | n/a | n/a | 3.00 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| uring-uring | 1000 | 6000 | 2.00x | 4096 | 9000 | 2.00 |"),
            std::string::npos)
      << md;
}

TEST(ReportMarkdownTest, UnavailableSyscallsAreNotedOnceUnderTheTables) {
  ReportRun run = SampleRun();
  NoteUnavailableSyscalls(run);  // two rows give the same reason
  const std::string md = ReportMarkdown(run);
  const std::string note = "- syscalls/op is n/a: tracefs is not mounted\n";
  const size_t at = md.find(note);
  ASSERT_NE(at, std::string::npos) << md;
  EXPECT_GT(at, md.find("Notes:")) << md;
  size_t count = 0;
  for (size_t pos = md.find("tracefs"); pos != std::string::npos;
       pos = md.find("tracefs", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << md;
}

TEST(ReportMarkdownTest, ListsFailuresAndNotes) {
  const std::string md = ReportMarkdown(SampleRun());
  EXPECT_NE(md.find("### Failed runs"), std::string::npos);
  EXPECT_NE(md.find("| uring-uring | pingpong-64B | UNAVAILABLE: \"exited\" before <port> |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- idle: scaled N from 10000 to 1000 & more"), std::string::npos);
}

TEST(ReportMarkdownTest, TlsWorkloadsSayTheyRunOverTls) {
  ReportRun run;
  run.http_duration_seconds = 2;
  run.http_servers = {"pooled-epoll", "nginx"};
  run.http_workloads = {
      {"https-keepalive", HttpWorkload::Kind::kKeepAlive, 50, 1, absl::ZeroDuration(), true},
      {"tls-idle", HttpWorkload::Kind::kIdle, 1000, 1, absl::ZeroDuration(), true}};
  Measurement idle;
  idle.server = "pooled-epoll";
  idle.workload = "tls-idle";
  idle.connections = 1000;
  idle.rss_bytes_per_connection = 7000;
  idle.buffer_bytes_per_connection = 0;
  idle.kernel_slab_bytes_per_connection = 10000;
  idle.note = "TLSv1.3";
  Measurement nginx = idle;
  nginx.server = "nginx";
  nginx.rss_bytes_per_connection = 14000;
  nginx.buffer_bytes_per_connection.reset();
  run.results = {idle, nginx};
  const std::string md = ReportMarkdown(run);
  EXPECT_NE(md.find("### https-keepalive: wrk -t1 -c50 -d2s, GET / on keep-alive connections "
                    "over TLS (https)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("### tls-idle: 1000 TLS connections, each silent after its handshake"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| pooled-epoll | 1000 | 7000 | 0.50x | 0 | 10000 | TLSv1.3 |"),
            std::string::npos)
      << md;
}

TEST(ReportMarkdownTest, ColumnHelpNamesEveryColumn) {
  const std::string md = ReportMarkdown(SampleRun());
  for (const char* column : {"ops/s", "MiB/s", "vs base", "p50", "p99", "CPU us/op",
                             "CPU vs base", "syscalls/op", "allocs/op", "conns", "RSS B/conn",
                             "RSS vs base", "buffer B/conn", "slab B/conn", "allocs/conn"}) {
    EXPECT_TRUE(absl::StrContains(md, column)) << column;
    EXPECT_TRUE(absl::StrContains(kReportColumnHelp, column)) << column;
  }
}

}  // namespace
}  // namespace readbuf::bench
