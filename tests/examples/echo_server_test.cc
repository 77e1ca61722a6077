// Runs examples/echo_server as a user would: a separate process, every
// policy on both backends, random traffic checked byte for byte, 15,000
// concurrent connections, clean exit on SIGTERM, and exit code 2 on bad
// flags.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/harness/loadgen.h"
#include "bench/harness/server_process.h"
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
                                           int threads = 1) {
  ServerProcess::Options options;
  options.argv = {ServerPath(), "--port=0", "--policy=" + policy, "--backend=" + backend,
                  "--threads=" + std::to_string(threads)};
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
    ::testing::Combine(::testing::Values("zeroed", "uninit", "vectored", "dyn", "pooled"),
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
                      std::make_tuple("uring", "uring")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

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
  EXPECT_EQ(RunServer({"--threads=0"}), 2);
  EXPECT_EQ(RunServer({"--port=70000"}), 2);
  EXPECT_EQ(RunServer({"--no_such_flag"}), 1);  // Abseil's own answer to unknown flags
  EXPECT_EQ(RunServer({"extra-argument"}), 2);
}

}  // namespace
}  // namespace readbuf
