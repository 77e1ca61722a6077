// io/server.h: a Server serves connections on every core, calls on_signal for
// its extra signals, stops accepting on Stop() (or SIGINT/SIGTERM), and lets
// connections finish within the grace period when destroyed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/server.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

// Connects to 127.0.0.1:port, sends `msg`, returns what comes back until EOF.
std::string RoundTrip(uint16_t port, const std::string& msg) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return got;
}

// Replies "<core>:<bytes>" and closes.
Task<void> Reply(TcpStream conn, std::shared_ptr<std::mutex> mu,
                 std::shared_ptr<std::set<int>> cores) {
  {
    std::lock_guard<std::mutex> l(*mu);
    cores->insert(current_core());
  }
  std::string got;
  std::byte buf[256];
  for (;;) {
    absl::StatusOr<size_t> n = co_await conn.read(buf);
    if (!n.ok() || *n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *n);
  }
  (void)co_await conn.write_all(std::to_string(current_core()) + ":" + got);
}

class ServerTest : public ::testing::TestWithParam<ServerOptions::Accept> {};

TEST_P(ServerTest, ServesOnEveryCoreAndStops) {
  auto mu = std::make_shared<std::mutex>();
  auto cores = std::make_shared<std::set<int>>();
  ServerOptions options;
  options.address = *SocketAddress::Parse("127.0.0.1:0");
  options.runtime.n_cores = 2;
  options.accept = GetParam();
  std::atomic<int> usr1{0};
  options.extra_signals = {SIGUSR1};
  options.on_signal = [&](int sig, Server&) {
    if (sig == SIGUSR1) usr1.fetch_add(1);
  };
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(
      options, [mu, cores](TcpStream c) { return Reply(std::move(c), mu, cores); });
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->local_address().port();
  ASSERT_NE(port, 0);
  std::thread runner([&] { (*server)->Run(); });
  for (int i = 0; i < 40; ++i) {
    const std::string r = RoundTrip(port, "hello");
    EXPECT_EQ(r.substr(r.find(':') + 1), "hello") << r;
  }
  ::kill(::getpid(), SIGUSR1);
  for (int i = 0; i < 100 && usr1.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(usr1.load(), 1);
  (*server)->Stop();
  runner.join();
  EXPECT_EQ((*server)->connections_accepted(), 40u);
  if (GetParam() == ServerOptions::Accept::kDistributeFromCore0) {
    std::lock_guard<std::mutex> l(*mu);
    EXPECT_EQ(cores->size(), 2u) << "round-robin reaches both cores";
  }
  server->reset();
  EXPECT_EQ(RoundTrip(port, "x"), "connect failed");  // no longer listening
}

INSTANTIATE_TEST_SUITE_P(AcceptModes, ServerTest,
                         ::testing::Values(ServerOptions::Accept::kListenerPerCore,
                                           ServerOptions::Accept::kDistributeFromCore0));

// A bind error is a status naming the address.
TEST(ServerErrorsTest, BindErrorNamesTheAddress) {
  ServerOptions options;
  options.address = *SocketAddress::Parse("192.0.2.1:1");  // not a local address
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(options, [](TcpStream) -> Task<void> { co_return; });
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("192.0.2.1"), std::string::npos) << server.status();
}

// The process's fd table size (FDSize in /proc/self/status), or -1.
int FdTableSize() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int size = -1;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "FDSize: %d", &size) == 1) break;
  }
  std::fclose(f);
  return size;
}

// Start() grows the fd table before the cores share it, so accepting
// thousands of connections never waits for the kernel to grow it (each
// growth of a shared table waits for an RCU grace period).
TEST(ServerFdTableTest, StartReservesTheFdTable) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  const int want = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 8192));
  ASSERT_GT(want, 0);
  ServerOptions options;
  options.address = *SocketAddress::Parse("127.0.0.1:0");
  options.runtime.n_cores = 1;
  options.reserve_fds = want;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(options, [](TcpStream) -> Task<void> { co_return; });
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GE(FdTableSize(), want);
}

}  // namespace
}  // namespace readbuf
