// examples/proxy, as a user runs it: 32 MiB each way through the proxy, byte
// for byte, with a half-close in each direction, with and without splice, on
// both backends; bad flags exit with status 2.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/harness/server_process.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

using bench::ServerProcess;

std::string Binary(const char* name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (workspace ? workspace : "") + "/examples/" +
         name;
}

std::vector<char> Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<char> v(n);
  for (auto& c : v) c = static_cast<char>(rng());
  return v;
}

bool SendAll(int fd, const std::vector<char>& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::vector<char> RecvToEof(int fd) {
  std::vector<char> got;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got.insert(got.end(), buf, buf + n);
  return got;
}

// Sends `out` and half-closes while reading everything the other side sends.
std::vector<char> Exchange(int fd, const std::vector<char>& out) {
  std::thread sender([&] {
    SendAll(fd, out);
    ::shutdown(fd, SHUT_WR);
  });
  std::vector<char> got = RecvToEof(fd);
  sender.join();
  return got;
}

class ProxyTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ProxyTest, CarriesEveryByteBothWaysAndForwardsHalfClose) {
  const auto& [backend, splice] = GetParam();
  // The upstream: accepts one connection and exchanges 32 MiB with it.
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  socklen_t len = sizeof(a);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  const int upstream_port = ntohs(a.sin_port);

  constexpr size_t kBytes = 32 << 20;
  const std::vector<char> up = Pattern(kBytes, 1);
  const std::vector<char> down = Pattern(kBytes, 2);
  std::vector<char> upstream_got;
  std::thread upstream([&] {
    const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    upstream_got = Exchange(c, down);
    ::close(c);
  });

  ServerProcess::Options options;
  options.argv = {Binary("proxy"), "--upstream=127.0.0.1:" + std::to_string(upstream_port),
                  "--backend=" + backend, std::string("--splice=") + (splice ? "true" : "false")};
  absl::StatusOr<std::unique_ptr<ServerProcess>> proxy = ServerProcess::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in p{};
  p.sin_family = AF_INET;
  p.sin_port = htons(static_cast<uint16_t>((*proxy)->port()));
  p.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&p), sizeof(p)), 0);
  const std::vector<char> client_got = Exchange(fd, up);
  ::close(fd);
  upstream.join();
  ::close(lfd);
  EXPECT_TRUE(client_got == down) << "client received " << client_got.size() << " bytes";
  EXPECT_TRUE(upstream_got == up) << "upstream received " << upstream_got.size() << " bytes";
  EXPECT_TRUE((*proxy)->Stop().ok());
}

INSTANTIATE_TEST_SUITE_P(BackendsAndSplice, ProxyTest,
                         ::testing::Combine(::testing::Values("epoll", "uring"),
                                            ::testing::Bool()));

int RunProxy(std::vector<std::string> flags) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> args = {Binary("proxy")};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::freopen("/dev/null", "w", stderr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ProxyFlagsTest, BadFlagsExitWithStatusTwo) {
  EXPECT_EQ(RunProxy({}), 2);  // no --upstream
  EXPECT_EQ(RunProxy({"--upstream=nowhere"}), 2);
  EXPECT_EQ(RunProxy({"--upstream=127.0.0.1:1", "--threads=0"}), 2);
  EXPECT_EQ(RunProxy({"--upstream=127.0.0.1:1", "--backend=kqueue"}), 2);
}

}  // namespace
}  // namespace readbuf
