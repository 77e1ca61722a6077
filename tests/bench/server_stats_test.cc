#include "bench/harness/server_stats.h"

#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace readbuf::bench {
namespace {

TEST(ParseServerStatsLineTest, ReadsEveryPair) {
  absl::StatusOr<ServerStats> st =
      ParseServerStatsLine("seq=3 connections=10 pool_bytes_in_use=0 rss_bytes=123456\n");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size(), 4u);
  EXPECT_EQ(st->at("seq"), 3u);
  EXPECT_EQ(st->at("connections"), 10u);
  EXPECT_EQ(st->at("pool_bytes_in_use"), 0u);
  EXPECT_EQ(st->at("rss_bytes"), 123456u);
}

TEST(ParseServerStatsLineTest, RejectsMalformedLines) {
  EXPECT_FALSE(ParseServerStatsLine("").ok());
  EXPECT_FALSE(ParseServerStatsLine("  \n").ok());
  EXPECT_FALSE(ParseServerStatsLine("seq=1 connections").ok());
  EXPECT_FALSE(ParseServerStatsLine("=5").ok());
  EXPECT_FALSE(ParseServerStatsLine("seq=-1").ok());
  EXPECT_FALSE(ParseServerStatsLine("seq=abc").ok());
  EXPECT_FALSE(ParseServerStatsLine("seq=1 seq=2").ok());
}

TEST(RequestServerStatsTest, TimesOutWhenNobodyWrites) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/never_written.stats";
  // Signal 0 checks the process exists and sends nothing.
  absl::StatusOr<ServerStats> st =
      RequestServerStats(getpid(), path, 0, absl::Milliseconds(50));
  EXPECT_EQ(st.status().code(), absl::StatusCode::kDeadlineExceeded) << st.status();
}

TEST(RequestServerStatsTest, NamesTheKillErrno) {
  constexpr pid_t kNoSuchPid = 0x7ffffff0;  // above any pid_max
  absl::StatusOr<ServerStats> st =
      RequestServerStats(kNoSuchPid, "/nonexistent", SIGUSR1, absl::Milliseconds(10));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.status().message()).find("kill("), std::string::npos);
}

}  // namespace
}  // namespace readbuf::bench
