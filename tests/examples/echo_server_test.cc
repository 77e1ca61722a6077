// Runs examples/echo_server as a user would: a separate process, every
// policy on both backends, random traffic checked byte for byte, 15,000
// concurrent connections, clean exit on SIGTERM, exit code 2 on bad flags,
// and the --stats_file contract (SIGUSR1: stats line; SIGUSR2: trim, then
// the line).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness/loadgen.h"
#include "bench/harness/server_process.h"
#include "bench/harness/server_stats.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

using bench::ServerProcess;

std::string ServerPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (workspace ? workspace : "") +
         "/examples/echo_server";
}

std::unique_ptr<ServerProcess> StartServer(const std::string& policy, const std::string& backend,
                                           int threads = 1,
                                           const std::string& stats_file = "") {
  ServerProcess::Options options;
  // "callback": callback connections (--api=callback, pool blocks).
  options.argv = {ServerPath(), "--port=0",
                  policy == "callback" ? "--policy=pooled" : "--policy=" + policy,
                  "--threads=" + std::to_string(threads)};
  if (policy == "callback") options.argv.push_back("--api=callback");
  if (!backend.empty()) options.argv.push_back("--backend=" + backend);
  if (!stats_file.empty()) options.argv.push_back("--stats_file=" + stats_file);
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

class EchoServerTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(EchoServerTest, EchoesEveryByteUnderLoad) {
  const auto& [policy, backend] = GetParam();
  std::unique_ptr<ServerProcess> server = StartServer(policy, backend, /*threads=*/2);
  ASSERT_NE(server, nullptr);
  // RunPingPong checks every echoed byte; RunStream keeps chunks in flight.
  absl::StatusOr<bench::LoadResult> ping =
      bench::RunPingPong(server->port(), 20, 1500, absl::Milliseconds(300));
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_GT(ping->ops, 0u);
  absl::StatusOr<bench::LoadResult> stream =
      bench::RunStream(server->port(), 4, 64 * 1024, absl::Milliseconds(300));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_GT(stream->bytes, 0u);
  EXPECT_TRUE(server->Stop().ok());  // SIGTERM: exit status 0
}

INSTANTIATE_TEST_SUITE_P(
    PoliciesAndBackends, EchoServerTest,
    ::testing::Combine(::testing::Values("zeroed", "uninit", "vectored", "dyn", "pooled",
                                         "callback"),
                       ::testing::Values("epoll", "uring")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

// The io_uring provided-buffer ring policy exists only on the uring backend.
INSTANTIATE_TEST_SUITE_P(
    RingPolicy, EchoServerTest,
    ::testing::Combine(::testing::Values("uring"), ::testing::Values("uring")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

// (policy, backend)
class ManyConnectionsTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ManyConnectionsTest, ServesFifteenThousandConcurrentConnections) {
  constexpr int kConnections = 15000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < kConnections + 100 && limit.rlim_max >= kConnections + 100) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < kConnections + 100) {
    GTEST_SKIP() << "open-file limit " << limit.rlim_cur << " is below " << kConnections;
  }
  const auto& [policy, backend] = GetParam();
  std::unique_ptr<ServerProcess> server = StartServer(policy, backend);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bench::IdleConnections> conns =
      bench::IdleConnections::Open(server->port(), kConnections);
  ASSERT_TRUE(conns.ok()) << conns.status();
  ASSERT_EQ(conns->size(), static_cast<size_t>(kConnections));
  absl::Status echoed = conns->EchoOnce(absl::Seconds(60));
  EXPECT_TRUE(echoed.ok()) << echoed;
  EXPECT_TRUE(server->Stop(absl::Seconds(20)).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Backends, ManyConnectionsTest,
    ::testing::Values(std::make_tuple("pooled", "epoll"), std::make_tuple("pooled", "uring"),
                      std::make_tuple("uring", "uring"), std::make_tuple("callback", "epoll"),
                      std::make_tuple("callback", "uring")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

std::string StatsPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name + ".stats";
}

// The keys the --stats_file contract promises (the soak test relies on them).
constexpr const char* kStatsKeys[] = {
    "seq", "cores", "connections", "conn_owned_buffer_bytes", "pool_bytes_in_use",
    "pool_bytes_retained", "pool_blocks_in_use", "pool_hits", "pool_misses", "pool_trims",
    "ring_bytes_registered", "ring_queued_pool_bytes", "ring_enobufs", "ring_fallback_reads",
    "ring_completions", "ring_bytes_received", "ring_arms", "ring_queue_cap_pauses", "rss_bytes"};

TEST(EchoServerStatsTest, UninitCountsItsBuffersAndConnections) {
  const std::string path = StatsPath("uninit");
  std::unique_ptr<ServerProcess> server = StartServer("uninit", "epoll", /*threads=*/2, path);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bench::IdleConnections> conns = bench::IdleConnections::Open(server->port(), 40);
  ASSERT_TRUE(conns.ok()) << conns.status();
  ASSERT_TRUE(conns->EchoOnce(absl::Seconds(10)).ok());
  absl::StatusOr<bench::ServerStats> st =
      bench::RequestServerStats(server->pid(), path, SIGUSR1, absl::Seconds(10));
  ASSERT_TRUE(st.ok()) << st.status();
  for (const char* key : kStatsKeys) EXPECT_EQ(st->count(key), 1u) << key;
  EXPECT_EQ(st->at("seq"), 1u);
  EXPECT_EQ(st->at("cores"), 2u);
  EXPECT_EQ(st->at("connections"), 40u);
  EXPECT_EQ(st->at("conn_owned_buffer_bytes"), 40u * 8192u);  // --buffer_size default
  EXPECT_EQ(st->at("pool_bytes_in_use"), 0u);
  EXPECT_GT(st->at("rss_bytes"), 0u);
  EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0);  // renamed, not left behind
  conns->Close();
  EXPECT_TRUE(server->Stop().ok());
}

TEST(EchoServerStatsTest, PooledHoldsNothingWhileIdleAndTrimsOnSigusr2) {
  const std::string path = StatsPath("pooled");
  std::unique_ptr<ServerProcess> server = StartServer("pooled", "epoll", /*threads=*/1, path);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bench::IdleConnections> conns = bench::IdleConnections::Open(server->port(), 40);
  ASSERT_TRUE(conns.ok()) << conns.status();
  ASSERT_TRUE(conns->EchoOnce(absl::Seconds(10)).ok());
  absl::StatusOr<bench::ServerStats> st =
      bench::RequestServerStats(server->pid(), path, SIGUSR1, absl::Seconds(10));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->at("connections"), 40u);
  EXPECT_EQ(st->at("conn_owned_buffer_bytes"), 0u);
  EXPECT_EQ(st->at("pool_bytes_in_use"), 0u);  // every block went back after the echo
  EXPECT_GT(st->at("pool_bytes_retained"), 0u);  // ... to the free lists
  EXPECT_GT(st->at("pool_hits") + st->at("pool_misses"), 0u);
  absl::StatusOr<bench::ServerStats> trimmed =
      bench::RequestServerStats(server->pid(), path, SIGUSR2, absl::Seconds(10));
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_EQ(trimmed->at("seq"), 2u);
  EXPECT_EQ(trimmed->at("pool_bytes_retained"), 0u);
  EXPECT_GT(trimmed->at("pool_trims"), st->at("pool_trims"));
  conns->Close();
  EXPECT_TRUE(server->Stop().ok());
}

TEST(EchoServerStatsTest, CallbackConnectionsHoldNothingWhileIdle) {
  const std::string path = StatsPath("callback");
  std::unique_ptr<ServerProcess> server = StartServer("callback", "epoll", /*threads=*/2, path);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bench::IdleConnections> conns = bench::IdleConnections::Open(server->port(), 40);
  ASSERT_TRUE(conns.ok()) << conns.status();
  ASSERT_TRUE(conns->EchoOnce(absl::Seconds(10)).ok());
  absl::StatusOr<bench::ServerStats> st =
      bench::RequestServerStats(server->pid(), path, SIGUSR1, absl::Seconds(10));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->at("connections"), 40u);
  EXPECT_EQ(st->at("pool_bytes_in_use"), 0u);  // every read's block went back
  conns->Close();
  // The server counts them out as they close.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  uint64_t left = 40;
  while (left != 0 && absl::Now() < deadline) {
    absl::StatusOr<bench::ServerStats> now =
        bench::RequestServerStats(server->pid(), path, SIGUSR1, absl::Seconds(10));
    ASSERT_TRUE(now.ok()) << now.status();
    left = now->at("connections");
    if (left != 0) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(left, 0u);
  EXPECT_TRUE(server->Stop().ok());
}

// --policy=uring selects the io_uring backend by itself (no --backend).
TEST(EchoServerStatsTest, RingReportsRegisteredBuffers) {
  const std::string path = StatsPath("ring");
  std::unique_ptr<ServerProcess> server = StartServer("uring", "", /*threads=*/1, path);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bench::IdleConnections> conns = bench::IdleConnections::Open(server->port(), 10);
  ASSERT_TRUE(conns.ok()) << conns.status();
  ASSERT_TRUE(conns->EchoOnce(absl::Seconds(10)).ok());
  absl::StatusOr<bench::ServerStats> st =
      bench::RequestServerStats(server->pid(), path, SIGUSR1, absl::Seconds(10));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->at("connections"), 10u);
  EXPECT_GT(st->at("ring_bytes_registered"), 0u);
  // The ring's buffers are pool blocks handed out to the kernel.
  EXPECT_GE(st->at("pool_bytes_in_use"), st->at("ring_bytes_registered"));
  // Each connection's 1-byte message arrived as one completion of its recv,
  // armed once; nothing was queued long enough to pause a recv.
  EXPECT_EQ(st->at("ring_completions"), 10u);
  EXPECT_EQ(st->at("ring_bytes_received"), 10u);
  EXPECT_EQ(st->at("ring_arms"), 10u);
  EXPECT_EQ(st->at("ring_queue_cap_pauses"), 0u);
  conns->Close();
  EXPECT_TRUE(server->Stop().ok());
}

TEST(EchoServerStatsTest, WithoutStatsFileSigusr1IsIgnored) {
  std::unique_ptr<ServerProcess> server = StartServer("pooled", "epoll");
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(kill(server->pid(), SIGUSR1), 0);
  ASSERT_EQ(kill(server->pid(), SIGUSR2), 0);
  absl::StatusOr<bench::LoadResult> ping =
      bench::RunPingPong(server->port(), 2, 64, absl::Milliseconds(100));
  ASSERT_TRUE(ping.ok()) << ping.status();  // still serving
  EXPECT_TRUE(server->Stop().ok());
}

int RunServer(const std::vector<std::string>& flags) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> args = {ServerPath()};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stderr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(EchoServerFlagsTest, BadFlagsExitWithStatusTwo) {
  EXPECT_EQ(RunServer({"--policy=bogus"}), 2);
  EXPECT_EQ(RunServer({"--policy=uring", "--backend=epoll"}), 2);
  EXPECT_EQ(RunServer({"--backend=kqueue"}), 2);
  EXPECT_EQ(RunServer({"--api=bogus"}), 2);
  EXPECT_EQ(RunServer({"--api=callback", "--policy=uninit"}), 2);
  EXPECT_EQ(RunServer({"--threads=0"}), 2);
  EXPECT_EQ(RunServer({"--port=70000"}), 2);
  EXPECT_EQ(RunServer({"--no_such_flag"}), 1);  // Abseil's own answer to unknown flags
  EXPECT_EQ(RunServer({"extra-argument"}), 2);
}

}  // namespace
}  // namespace readbuf
