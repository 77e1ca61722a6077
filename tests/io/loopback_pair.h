// Shared helpers for io/ tests that need a connected TCP pair on loopback
// and random payloads.

#ifndef READBUF_TESTS_IO_LOOPBACK_PAIR_H_
#define READBUF_TESTS_IO_LOOPBACK_PAIR_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "io/address.h"
#include "io/net.h"
#include "io/task.h"

namespace readbuf {
namespace testing_io {

// 127.0.0.1 with a port the kernel picks.
inline SocketAddress Loopback() { return *SocketAddress::Parse("127.0.0.1:0"); }

// `n` bytes from a seeded generator: the same seed gives the same bytes.
inline std::vector<std::byte> RandomBytes(size_t n, uint32_t seed) {
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
inline Task<absl::StatusOr<ConnectedPair>> Connect(TcpListener* listener) {
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(*listener->local_addr());
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> server = co_await listener->accept();
  if (!server.ok()) co_return server.status();
  co_return ConnectedPair{*std::move(client), *std::move(server)};
}

}  // namespace testing_io
}  // namespace readbuf

#endif  // READBUF_TESTS_IO_LOOPBACK_PAIR_H_
