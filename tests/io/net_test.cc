#include "io/net.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/channel.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

using testing_io::CountOpenFds;

class NetTest : public testing_io::BackendSuite<2> {};

SocketAddress Loopback() { return *SocketAddress::Parse("127.0.0.1:0"); }

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

Task<void> EchoConn(TcpStream s) {
  std::vector<std::byte> buf(8192);
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s.read(buf);
    if (!n.ok() || *n == 0) co_return;
    absl::Status w = co_await s.write_all(std::span(buf.data(), *n));
    if (!w.ok()) co_return;
  }
}

// Accepts forever, serving each connection on this core.
Task<void> EchoServer(TcpListener* l) {
  for (;;) {
    absl::StatusOr<TcpStream> c = co_await l->accept();
    if (!c.ok()) co_return;
    spawn(EchoConn(*std::move(c))).detach();
  }
}

std::vector<std::byte> RandomBytes(std::mt19937& rng, std::size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

Task<absl::Status> WriteInRandomChunks(TcpStream* s,
                                       const std::vector<std::byte>* data,
                                       std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::size_t off = 0;
  while (off < data->size()) {
    std::size_t chunk = std::min<std::size_t>(1 + rng() % 20000, data->size() - off);
    absl::Status st = co_await s->write_all(std::span(data->data() + off, chunk));
    if (!st.ok()) co_return st;
    off += chunk;
  }
  co_return s->shutdown(SHUT_WR);
}

std::uint64_t Fnv1a(std::span<const std::byte> d, std::uint64_t h = 1469598103934665603ull) {
  for (std::byte b : d) {
    h ^= static_cast<std::uint8_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

// Sends `size` random bytes in random chunks and reads them back with random
// read sizes; checks order and checksum.
Task<absl::Status> EchoClient(SocketAddress addr, std::uint32_t seed, std::size_t size) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::mt19937 rng(seed);
  std::vector<std::byte> data = RandomBytes(rng, size);
  JoinHandle<absl::Status> writer = spawn(WriteInRandomChunks(&*s, &data, seed + 1));
  std::vector<std::byte> got;
  got.reserve(size);
  std::vector<std::byte> buf(65536);
  for (;;) {
    std::size_t want = 1 + rng() % buf.size();
    absl::StatusOr<std::size_t> n = co_await s->read(std::span(buf.data(), want));
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + *n);
  }
  absl::Status w = co_await writer;
  if (!w.ok()) co_return w;
  if (got.size() != data.size()) {
    co_return absl::InternalError("size mismatch: " + std::to_string(got.size()) +
                                  " != " + std::to_string(data.size()));
  }
  if (Fnv1a(got) != Fnv1a(data) || got != data) {
    co_return absl::InternalError("echoed bytes differ");
  }
  co_return absl::OkStatus();
}

TEST_P(NetTest, LoopbackEchoRandomSizesAndSplits) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  absl::StatusOr<SocketAddress> addr = l->local_addr();
  ASSERT_TRUE(addr.ok());
  EXPECT_NE(addr->port(), 0);
  JoinHandle<void> server = rt.spawn_on(0, EchoServer(&*l));
  std::mt19937 rng(12345);
  std::vector<JoinHandle<absl::Status>> clients;
  for (int i = 0; i < 16; ++i) {
    std::size_t size = i == 0 ? 0 : (i == 1 ? 1 : rng() % (1 << 20));
    clients.push_back(rt.spawn_on(1, EchoClient(*addr, rng(), size)));
  }
  for (auto& c : clients) {
    absl::Status r = c.BlockingJoin();
    EXPECT_TRUE(r.ok()) << r;
  }
  server.cancel();
  EXPECT_EQ(server.BlockingJoin().code(), absl::StatusCode::kCancelled);
}

Task<absl::Status> HoldingClient(SocketAddress addr, Channel<int>* release,
                                 std::atomic<int>* ready) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::string msg(64, 'x');
  absl::Status w = co_await s->write_all(Bytes(msg));
  if (!w.ok()) co_return w;
  std::byte buf[64];
  std::size_t got = 0;
  while (got < sizeof(buf)) {
    absl::StatusOr<std::size_t> n = co_await s->read(std::span(buf + got, sizeof(buf) - got));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("early EOF");
    got += *n;
  }
  ready->fetch_add(1);
  // Keep the connection open until everyone is connected.
  (void)co_await release->receive();
  co_return absl::OkStatus();
}

TEST_P(NetTest, TwoThousandConcurrentConnections) {
  constexpr int kConns = 2000;
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  SocketAddress addr = *l->local_addr();
  JoinHandle<void> server = rt.spawn_on(0, EchoServer(&*l));
  Channel<int> release;
  std::atomic<int> ready{0};
  std::vector<JoinHandle<absl::Status>> clients;
  for (int i = 0; i < kConns; ++i) {
    clients.push_back(rt.spawn(HoldingClient(addr, &release, &ready)));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ready.load() < kConns && std::chrono::steady_clock::now() < deadline) {
    bool any_failed = false;
    for (auto& c : clients) any_failed |= c.done();
    if (any_failed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ready.load(), kConns);
  // Both ends of every connection are open right now.
  EXPECT_GE(CountOpenFds(), 2 * kConns);
  release.close();
  for (auto& c : clients) {
    absl::Status r = c.BlockingJoin();
    ASSERT_TRUE(r.ok()) << r;
  }
  server.cancel();
  (void)server.BlockingJoin();
}

Task<absl::Status> ResetServer(TcpListener* l) {
  absl::StatusOr<TcpStream> c = co_await l->accept();
  if (!c.ok()) co_return c.status();
  // Wait for the client's request, so its connect() has completed.
  std::byte req[10];
  std::size_t got = 0;
  while (got < sizeof(req)) {
    absl::StatusOr<std::size_t> n = co_await c->read(std::span(req + got, sizeof(req) - got));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("client closed early");
    got += *n;
  }
  std::string msg(1000, 'a');
  absl::Status w = co_await c->write_all(Bytes(msg));
  if (!w.ok()) co_return w;
  linger lg{1, 0};
  if (::setsockopt(c->async_fd().fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
    co_return absl::InternalError("setsockopt(SO_LINGER)");
  }
  c->close();  // linger 0: sends RST
  co_return absl::OkStatus();
}

struct ResetOutcome {
  absl::Status read_error;
  absl::Status write_error;
  std::size_t bytes_before_error = 0;
};

Task<absl::StatusOr<ResetOutcome>> ResetClient(SocketAddress addr) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::string req(10, 'q');
  (void)co_await s->write_all(Bytes(req));
  co_await sleep_for(absl::Milliseconds(50));
  ResetOutcome out;
  std::byte buf[100];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s->read(buf);
    if (!n.ok()) {
      out.read_error = n.status();
      break;
    }
    if (*n == 0) break;
    out.bytes_before_error += *n;
  }
  std::string more(1 << 16, 'z');
  for (int i = 0; i < 10 && out.write_error.ok(); ++i) {
    out.write_error = co_await s->write_all(Bytes(more));
  }
  co_return out;
}

TEST_P(NetTest, PeerResetMidStreamGivesClearErrors) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
  ASSERT_TRUE(l.ok());
  SocketAddress addr = *l->local_addr();
  JoinHandle<absl::Status> server = rt.spawn_on(0, ResetServer(&*l));
  absl::StatusOr<ResetOutcome> out = rt.spawn_on(1, ResetClient(addr)).BlockingJoin();
  ASSERT_TRUE(out.ok()) << out.status();
  const ResetOutcome& o = *out;
  // A RST discards queued data, so the read fails with ECONNRESET.
  EXPECT_FALSE(o.read_error.ok());
  EXPECT_TRUE(absl::StrContains(o.read_error.message(), "read(fd="))
      << o.read_error;
  EXPECT_TRUE(absl::StrContains(o.read_error.message(), "reset"))
      << o.read_error;
  // Writing to the reset connection fails with EPIPE; no SIGPIPE kills us.
  EXPECT_FALSE(o.write_error.ok());
  EXPECT_TRUE(absl::StrContains(o.write_error.message(), "send(fd="))
      << o.write_error;
  absl::Status s = server.BlockingJoin();
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::StatusOr<TcpStream>> AcceptOne(TcpListener* l) { co_return co_await l->accept(); }

Task<absl::Status> ReadForever(TcpStream s) {
  std::byte buf[16];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s.read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
  }
}

TEST_P(NetTest, CancellingPendingReadReleasesTheSocket) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
  ASSERT_TRUE(l.ok());
  SocketAddress addr = *l->local_addr();
  JoinHandle<absl::StatusOr<TcpStream>> acc = rt.spawn_on(0, AcceptOne(&*l));
  absl::StatusOr<TcpStream> client =
      rt.spawn_on(1, TcpStream::connect(addr)).BlockingJoin();
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<TcpStream> server_side = acc.BlockingJoin();
  ASSERT_TRUE(server_side.ok()) << server_side.status();
  for (int round = 0; round < 3; ++round) {
    const int with_reader = CountOpenFds();
    // Hand the accepted socket to a reader that waits forever (registered
    // with core 0's backend), then cancel it.
    JoinHandle<absl::Status> reader;
    if (round == 0) {
      reader = rt.spawn_on(0, ReadForever(std::move(*server_side)));
    } else {
      // Fresh connections for later rounds.
      acc = rt.spawn_on(0, AcceptOne(&*l));
      auto c2 = rt.spawn_on(1, TcpStream::connect(addr)).BlockingJoin();
      ASSERT_TRUE(c2.ok()) << c2.status();
      auto s2 = acc.BlockingJoin();
      ASSERT_TRUE(s2.ok()) << s2.status();
      const int before = CountOpenFds();
      reader = rt.spawn_on(0, ReadForever(std::move(*s2)));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      reader.cancel();
      EXPECT_EQ(reader.BlockingJoin().code(), absl::StatusCode::kCancelled);
      EXPECT_EQ(CountOpenFds(), before - 1);
      // Closing our end of the pair (client on core 1 via destruction here,
      // i.e. off-core) releases the last fd of this round.
      c2 = absl::CancelledError("dropped");
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    reader.cancel();
    EXPECT_EQ(reader.BlockingJoin().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(CountOpenFds(), with_reader - 1);
  }
}

Task<absl::Status> ConnectAndIdle(SocketAddress addr) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::byte buf[16];
  absl::StatusOr<std::size_t> n = co_await s->read(buf);  // never returns
  co_return n.status();
}

TEST_P(NetTest, ShutdownWithLiveConnectionsFinishesWithinBound) {
  const int baseline = CountOpenFds();
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(Options());
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok());
    SocketAddress addr = *l->local_addr();
    rt.spawn_on(0, EchoServer(&*l)).detach();
    for (int i = 0; i < 50; ++i) rt.spawn(ConnectAndIdle(addr)).detach();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rt.Shutdown(absl::Milliseconds(100));
    // The listener object (registered with core 0) is destroyed after the
    // runtime shut down: it was orphaned and is closed directly.
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(CountOpenFds(), baseline);
}

// A blocking client whose handshake completes in the kernel's backlog.
int ConnectBlockingTo(const SocketAddress& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, addr.sockaddr_ptr(), addr.length()) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

Task<std::uint64_t> AcceptOneThenClose(TcpListener* l) {
  absl::StatusOr<TcpStream> first = co_await l->accept();
  if (!first.ok()) co_return 0;
  co_await sleep_for(absl::Milliseconds(20));  // the kernel accepts the rest meanwhile
  const std::uint64_t kernel_accepts = io_internal::CurrentCore()->backend()->kernel_accepts();
  l->close();  // must close what was accepted but never taken
  co_return kernel_accepts;
}

TEST_P(NetTest, ClosingAListenerClosesConnectionsAcceptedButNotTaken) {
  constexpr int kClients = 20;
  const int fds_before = CountOpenFds();
  {
    Runtime rt(Options(1));
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    const SocketAddress addr = *l->local_addr();
    std::vector<int> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(ConnectBlockingTo(addr));
    absl::StatusOr<std::uint64_t> kernel_accepts = rt.block_on(AcceptOneThenClose(&*l));
    ASSERT_TRUE(kernel_accepts.ok());
    if (std::string(rt.backend_name()) == "io_uring") {
      // Multishot accept took every connection off the backlog.
      EXPECT_EQ(*kernel_accepts, static_cast<std::uint64_t>(kClients));
    } else {
      EXPECT_EQ(*kernel_accepts, 0u);
    }
    for (int fd : clients) {
      ASSERT_GE(fd, 0);
      char b;
      errno = 0;
      const ssize_t n = ::recv(fd, &b, 1, 0);
      // EOF (closed after accept) or a reset (dropped from the backlog),
      // never a timeout: no connection is left dangling.
      EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << "n=" << n << " errno=" << errno;
      ::close(fd);
    }
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

// With an accept pending (on io_uring the kernel's multishot accept holds
// the listening file), closes the listener and connects at once, before the
// core runs again: the connect must be refused, not queued on a listener
// that no longer exists. `destroy` closes by destruction instead of close().
Task<absl::Status> CloseWhileAcceptingThenConnect(TcpListener l, bool destroy) {
  const SocketAddress addr = *l.local_addr();
  JoinHandle<absl::StatusOr<TcpStream>> pending = spawn(AcceptOne(&l));
  co_await sleep_for(absl::Milliseconds(5));  // the accept is armed in the kernel
  if (destroy) {
    TcpListener gone = std::move(l);
  } else {
    l.close();
  }
  const int fd = ConnectBlockingTo(addr);
  if (fd >= 0) ::close(fd);
  absl::StatusOr<TcpStream> accepted = co_await pending;
  if (accepted.ok()) co_return absl::InternalError("accepted from a closed listener");
  if (fd >= 0) co_return absl::InternalError("connected to a closed listener");
  co_return absl::OkStatus();
}

TEST_P(NetTest, AClosedListenerRefusesConnectionsAtOnce) {
  for (const bool destroy : {false, true}) {
    Runtime rt(Options(1));
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    absl::StatusOr<absl::Status> r =
        rt.block_on(CloseWhileAcceptingThenConnect(*std::move(l), destroy));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->ok()) << *r << (destroy ? " (destroyed)" : " (close())");
  }
}

TEST_P(NetTest, ConnectRefusedIsAnError) {
  SocketAddress addr;
  {
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok());
    addr = *l->local_addr();
  }  // closed: nothing listens on that port now
  Runtime rt(Options());
  absl::StatusOr<TcpStream> r = rt.block_on(TcpStream::connect(addr));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "connect(")) << r.status();
}

TEST_P(NetTest, BindErrorsNameTheAddress) {
  absl::StatusOr<TcpListener> a = TcpListener::bind(Loopback());
  ASSERT_TRUE(a.ok());
  SocketAddress taken = *a->local_addr();
  absl::StatusOr<TcpListener> b =
      TcpListener::bind(taken, ListenOptions{.reuse_addr = false});
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), taken.ToString()))
      << b.status();
  absl::StatusOr<TcpListener> u =
      TcpListener::bind(*SocketAddress::Unix("/tmp/x"));
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NetTest, ReusePortAllowsOneListenerPerCore) {
  absl::StatusOr<TcpListener> a =
      TcpListener::bind(Loopback(), ListenOptions{.reuse_port = true});
  ASSERT_TRUE(a.ok());
  absl::StatusOr<TcpListener> b = TcpListener::bind(
      *a->local_addr(), ListenOptions{.reuse_port = true});
  EXPECT_TRUE(b.ok()) << b.status();
}

Task<absl::Status> VectoredRoundTrip(SocketAddress addr) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(addr);
  if (!s.ok()) co_return s.status();
  if (absl::Status st = s->set_nodelay(true); !st.ok()) co_return st;
  char a[] = "hello, ";
  char b[] = "world";
  iovec out[2] = {{a, 7}, {b, 5}};
  absl::StatusOr<std::size_t> w = co_await s->writev(out);
  if (!w.ok()) co_return w.status();
  if (*w != 12) co_return absl::InternalError("short writev");
  char x[5];
  char y[7];
  iovec in[2] = {{x, 5}, {y, 7}};
  std::size_t got = 0;
  std::string all;
  while (got < 12) {
    absl::StatusOr<std::size_t> n = co_await s->readv(in);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("EOF");
    all.append(x, std::min<std::size_t>(*n, 5));
    if (*n > 5) all.append(y, *n - 5);
    got += *n;
  }
  if (all != "hello, world") co_return absl::InternalError(all);
  co_return absl::OkStatus();
}

TEST_P(NetTest, ReadvWritev) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
  ASSERT_TRUE(l.ok());
  rt.spawn_on(0, EchoServer(&*l)).detach();
  absl::Status r = rt.spawn_on(1, VectoredRoundTrip(*l->local_addr())).BlockingJoin();
  EXPECT_TRUE(r.ok()) << r;
  rt.Shutdown(absl::ZeroDuration());
}

TEST_P(NetTest, Ipv6Loopback) {
  absl::StatusOr<TcpListener> l = TcpListener::bind(*SocketAddress::Parse("[::1]:0"));
  if (!l.ok()) GTEST_SKIP() << "no IPv6 loopback: " << l.status();
  Runtime rt(Options());
  rt.spawn_on(0, EchoServer(&*l)).detach();
  absl::Status r =
      rt.spawn_on(1, EchoClient(*l->local_addr(), 7, 100000)).BlockingJoin();
  EXPECT_TRUE(r.ok()) << r;
  rt.Shutdown(absl::ZeroDuration());
}

Task<void> UnixEchoServer(UnixListener* l) {
  absl::StatusOr<UnixStream> c = co_await l->accept();
  if (!c.ok()) co_return;
  std::byte buf[256];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await c->read(buf);
    if (!n.ok() || *n == 0) co_return;
    if (!(co_await c->write_all(std::span(buf, *n))).ok()) co_return;
  }
}

Task<absl::StatusOr<std::string>> UnixClient(SocketAddress addr) {
  absl::StatusOr<UnixStream> s = co_await UnixStream::connect(addr);
  if (!s.ok()) co_return s.status();
  std::string msg = "over a unix socket";
  if (absl::Status w = co_await s->write_all(Bytes(msg)); !w.ok()) co_return w;
  if (absl::Status st = s->shutdown(SHUT_WR); !st.ok()) co_return st;
  std::string got;
  std::byte buf[7];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s->read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *n);
  }
  co_return got;
}

TEST_P(NetTest, UnixDomainSockets) {
  // Bazel's TEST_TMPDIR is longer than sun_path allows.
  std::string path = "/tmp/readbuf_net_test_" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  absl::StatusOr<SocketAddress> addr = SocketAddress::Unix(path);
  ASSERT_TRUE(addr.ok());
  absl::StatusOr<UnixListener> l = UnixListener::bind(*addr);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->local_addr()->ToString(), "unix:" + path);
  Runtime rt(Options());
  JoinHandle<void> server = rt.spawn_on(0, UnixEchoServer(&*l));
  auto r = rt.spawn_on(1, UnixClient(*addr)).BlockingJoin();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "over a unix socket");
  (void)server.BlockingJoin();
  ::unlink(path.c_str());
}

Task<absl::StatusOr<std::string>> PairRoundTrip() {
  auto p = UnixStream::Pair();
  if (!p.ok()) co_return p.status();
  std::string msg = "pair";
  if (absl::Status w = co_await p->first.write_all(Bytes(msg)); !w.ok()) co_return w;
  p->first.close();
  std::string got;
  std::byte buf[16];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await p->second.read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *n);
  }
  co_return got;
}

TEST_P(NetTest, UnixPairEofIsZeroBytes) {
  Runtime rt(Options(1));
  auto r = rt.block_on(PairRoundTrip());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "pair");
}

INSTANTIATE_TEST_SUITE_P(Backends, NetTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
