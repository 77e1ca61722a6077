// Tests for io/read_into.h: the same echo coroutine over every buffer policy
// and both backends keeps the byte stream exact; a deferring policy holds no
// pool memory while its reads are pending.
#include "io/read_into.h"

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

SocketAddress Loopback() { return *SocketAddress::Parse("127.0.0.1:0"); }

// The echo every policy runs: only the template argument changes.
template <class Policy>
Task<absl::Status> Echo(TcpStream conn, Policy buf) {
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(conn, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    if (absl::Status s = co_await write_filled(conn, buf); !s.ok()) co_return s;
    buf.clear();
  }
}

template <class Policy>
Task<absl::Status> ServeOne(TcpListener* listener, Policy buf) {
  absl::StatusOr<TcpStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return conn.status();
  co_return co_await Echo(*std::move(conn), std::move(buf));
}

Task<absl::Status> WriteChunks(TcpStream* s, const std::vector<std::byte>* data,
                               uint32_t seed) {
  std::mt19937 rng(seed);
  size_t off = 0;
  while (off < data->size()) {
    const size_t chunk = std::min<size_t>(1 + rng() % 30000, data->size() - off);
    if (absl::Status st = co_await s->write_all(std::span(data->data() + off, chunk));
        !st.ok()) {
      co_return st;
    }
    off += chunk;
  }
  co_return s->shutdown(SHUT_WR);
}

// Sends random bytes in random chunks, reads the echo with random read
// sizes, and compares.
Task<absl::Status> Client(SocketAddress addr, uint32_t seed, size_t size) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::mt19937 rng(seed);
  std::vector<std::byte> data(size);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  JoinHandle<absl::Status> writer = spawn(WriteChunks(&*s, &data, seed + 1));
  std::vector<std::byte> got;
  std::vector<std::byte> buf(40000);
  for (;;) {
    absl::StatusOr<size_t> n = co_await s->read(std::span(buf.data(), 1 + rng() % buf.size()));
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
  if (absl::Status w = co_await writer; !w.ok()) co_return w;
  if (got != data) {
    co_return absl::DataLossError("echo differs: " + std::to_string(got.size()) + " of " +
                                  std::to_string(data.size()) + " bytes");
  }
  co_return absl::OkStatus();
}

class ReadIntoTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  template <class Policy>
  void RoundTrip(Policy buf, uint32_t seed) {
    Runtime rt({.n_cores = 2, .backend = GetParam()});
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const SocketAddress addr = *listener->local_addr();
    JoinHandle<absl::Status> server = rt.spawn_on(0, ServeOne(&*listener, std::move(buf)));
    absl::Status client = rt.block_on(Client(addr, seed, 300000));
    EXPECT_TRUE(client.ok()) << client;
    EXPECT_TRUE(server.BlockingJoin().ok());
  }
};

TEST_P(ReadIntoTest, ZeroedKeepsTheStreamExact) { RoundTrip(Zeroed(4096), 1); }
TEST_P(ReadIntoTest, UninitKeepsTheStreamExact) { RoundTrip(Uninit(4096), 2); }
TEST_P(ReadIntoTest, VectoredKeepsTheStreamExact) { RoundTrip(Vectored<4>(4096), 3); }
TEST_P(ReadIntoTest, DynamicVectoredKeepsTheStreamExact) {
  RoundTrip(DynamicVectored({7, 100, 1, 5000}), 4);
}
TEST_P(ReadIntoTest, DynKeepsTheStreamExact) { RoundTrip(Dyn(Vectored<2>(3000)), 5); }
TEST_P(ReadIntoTest, PooledKeepsTheStreamExact) { RoundTrip(Pooled(), 6); }

// Accepts `n` connections and serves each with Echo<Pooled> on this core.
Task<absl::Status> AcceptAndServe(TcpListener* listener, int n,
                                  std::vector<JoinHandle<absl::Status>>* served) {
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<TcpStream> conn = co_await listener->accept();
    if (!conn.ok()) co_return conn.status();
    served->push_back(spawn(Echo(*std::move(conn), Pooled())));
  }
  co_return absl::OkStatus();
}

Task<size_t> PoolBytesInUse() {
  co_return BufferPool::ForThisThread().Stats().bytes_in_use;
}

// N connections, each echoed once, then left idle with a read pending: the
// pool of the serving core holds nothing for them.
TEST_P(ReadIntoTest, IdlePooledConnectionsHoldNoPoolMemory) {
  constexpr int kConnections = 50;
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
  ASSERT_TRUE(listener.ok()) << listener.status();
  const SocketAddress addr = *listener->local_addr();
  std::vector<JoinHandle<absl::Status>> servers;
  JoinHandle<absl::Status> acceptor =
      rt.spawn_on(0, AcceptAndServe(&*listener, kConnections, &servers));
  std::vector<TcpStream> clients;
  absl::Status status = rt.block_on([&]() -> Task<absl::Status> {
    for (int i = 0; i < kConnections; ++i) {
      absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
      if (!s.ok()) co_return s.status();
      const std::string ping = "ping";
      if (absl::Status w = co_await s->write_all(std::as_bytes(std::span(ping))); !w.ok()) {
        co_return w;
      }
      std::byte back[4];
      size_t got = 0;
      while (got < 4) {
        absl::StatusOr<size_t> n = co_await s->read(std::span(back + got, 4 - got));
        if (!n.ok()) co_return n.status();
        if (*n == 0) co_return absl::InternalError("early EOF");
        got += *n;
      }
      clients.push_back(*std::move(s));
    }
    co_return absl::OkStatus();
  }());
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_TRUE(acceptor.BlockingJoin().ok());
  ASSERT_EQ(servers.size(), static_cast<size_t>(kConnections));
  // Every server has echoed once and is back in read_into, waiting.
  absl::StatusOr<size_t> in_use = rt.spawn_on(0, PoolBytesInUse()).BlockingJoin();
  ASSERT_TRUE(in_use.ok());
  EXPECT_EQ(*in_use, 0u);
  for (TcpStream& c : clients) c.close();
  for (auto& s : servers) EXPECT_TRUE(s.BlockingJoin().ok());
}

Task<absl::Status> ReadIntoFullBuffer(TcpListener* listener, SocketAddress addr) {
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(addr);
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return conn.status();
  const std::string data = "0123456789";
  if (absl::Status w = co_await client->write_all(std::as_bytes(std::span(data))); !w.ok()) {
    co_return w;
  }
  Uninit buf(4);
  size_t total = 0;
  while (total < 4) {
    absl::StatusOr<size_t> n = co_await read_into(*conn, buf);
    if (!n.ok()) co_return n.status();
    total += *n;
  }
  absl::StatusOr<size_t> full = co_await read_into(*conn, buf);
  if (full.ok() || full.status().code() != absl::StatusCode::kFailedPrecondition) {
    co_return absl::InternalError("a full buffer must give FailedPrecondition");
  }
  co_return absl::OkStatus();
}

TEST_P(ReadIntoTest, FullBufferIsAClearError) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
  ASSERT_TRUE(listener.ok());
  absl::Status s = rt.block_on(ReadIntoFullBuffer(&*listener, *listener->local_addr()));
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> ReadAfterReset(TcpListener* listener, SocketAddress addr) {
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(addr);
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return conn.status();
  // SO_LINGER 0 makes close() send a RST.
  linger lin{1, 0};
  setsockopt(client->async_fd().fd(), SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
  client->close();
  Pooled buf;
  absl::StatusOr<size_t> n = co_await read_into(*conn, buf);
  if (n.ok()) co_return absl::InternalError("read after RST must fail");
  if (n.status().message().find("read(fd=") == absl::string_view::npos) {
    co_return absl::InternalError("error must name the operation: " + n.status().ToString());
  }
  co_return absl::OkStatus();
}

TEST_P(ReadIntoTest, PeerResetIsAnErrorNamingTheRead) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
  ASSERT_TRUE(listener.ok());
  absl::Status s = rt.block_on(ReadAfterReset(&*listener, *listener->local_addr()));
  EXPECT_TRUE(s.ok()) << s;
}

// A stream whose writev accepts nothing, as a broken custom stream might.
struct StalledStream {
  Task<absl::StatusOr<size_t>> writev(std::span<const iovec>) { co_return size_t{0}; }
  Task<absl::Status> write_all(std::span<const std::byte>) {
    co_return absl::InternalError("write_all must not be reached");
  }
};

Task<absl::Status> WriteFilledToStalledStream() {
  Vectored<2> buf(64);
  buf.initialize_unfilled()[0] = std::byte{1};
  buf.advance(1);
  StalledStream stream;
  co_return co_await write_filled(stream, buf);
}

TEST_P(ReadIntoTest, WriteFilledFailsWhenTheStreamAcceptsNothing) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::Status s = rt.block_on(WriteFilledToStalledStream());
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("accepted 0 bytes"), absl::string_view::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, ReadIntoTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
