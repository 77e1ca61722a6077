// -----------------------------------------------------------------------------
// File: tests/reliability/fault_test_util.h
// -----------------------------------------------------------------------------
//
// Helpers for the fault-injection tests: the backends to run over, a
// connected loopback pair, seeded payloads, sending a TCP RST, counting this
// process's fds and its CPU time. (tests/io has similar helpers, but they are
// private to that package.)

#ifndef READBUF_TESTS_RELIABILITY_FAULT_TEST_UTIL_H_
#define READBUF_TESTS_RELIABILITY_FAULT_TEST_UTIL_H_

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {
namespace reliability {

inline std::vector<BackendKind> BothBackends() {
  return {BackendKind::kEpoll, BackendKind::kUring};
}

inline std::string BackendParamName(
    const ::testing::TestParamInfo<BackendKind>& info) {
  return info.param == BackendKind::kEpoll ? "epoll" : "uring";
}

// 127.0.0.1 with a port the kernel picks.
inline SocketAddress Loopback() { return *SocketAddress::Parse("127.0.0.1:0"); }

// `n` bytes from a seeded generator: the same seed gives the same bytes.
inline std::vector<std::byte> SeededBytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

struct ConnectedPair {
  TcpStream client;
  TcpStream server;
};

// Connects to `listener` and accepts the connection.
// REQUIRES: on a reactor core; no other accept pending on `listener`.
inline Task<absl::StatusOr<ConnectedPair>> ConnectPair(TcpListener* listener) {
  absl::StatusOr<SocketAddress> addr = listener->local_addr();
  if (!addr.ok()) co_return addr.status();
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(*addr);
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> server = co_await listener->accept();
  if (!server.ok()) co_return server.status();
  co_return ConnectedPair{*std::move(client), *std::move(server)};
}

// Makes the next close() of `fd` send a RST instead of a FIN (SO_LINGER 0):
// the peer's pending and later reads fail with ECONNRESET, its writes with
// ECONNRESET or EPIPE.
inline void ArmResetOnClose(int fd) {
  linger lin{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
}

// Number of open file descriptors of this process (-1 if /proc is missing).
inline int CountOpenFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

// User + system CPU time of the whole process (every thread) so far.
inline absl::Duration ProcessCpuTime() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return absl::DurationFromTimeval(ru.ru_utime) +
         absl::DurationFromTimeval(ru.ru_stime);
}

}  // namespace reliability
}  // namespace readbuf

#endif  // READBUF_TESTS_RELIABILITY_FAULT_TEST_UTIL_H_
