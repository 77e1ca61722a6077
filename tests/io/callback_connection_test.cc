// Callback connections (io/callback_connection.h) on both backends, the way
// the coroutine echo is tested: every byte echoed, a peer that never reads
// (bounded pending bytes), Close() from OnData, a peer that leaves with bytes
// unread, cancelling the owning task and shutting the runtime down with live
// connections (everything freed, OnClose once each), idle connections
// holding no pool memory, and Server's callback mode with its graceful drain.
// Peers are plain threads on blocking sockets.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "io/async_fd.h"
#include "io/callback_connection.h"
#include "io/runtime.h"
#include "io/server.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

// --- Peers -------------------------------------------------------------------

struct Pair {
  int reactor_fd = -1;  // non-blocking, handed to the set
  int peer_fd = -1;     // blocking, 10 s timeouts
};

Pair MakePair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return {sv[0], sv[1]};
}

bool SendAll(int fd, const std::byte* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool RecvAll(int fd, std::byte* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::vector<std::byte> RandomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(gen());
  return v;
}

// --- Handlers ----------------------------------------------------------------

// Echoes, and records what happened. Callbacks run on one core; the test
// reads the record after joining.
class EchoRecorder : public CallbackHandler {
 public:
  void OnOpen(CallbackConnection&) override { opens.fetch_add(1); }
  void OnData(CallbackConnection& c, std::span<const std::byte> bytes) override {
    bytes_in.fetch_add(bytes.size());
    c.Write(bytes);
    max_pending.store(std::max(max_pending.load(), c.pending_bytes()));
  }
  void OnClose(CallbackConnection&, const absl::Status& why) override {
    std::lock_guard<std::mutex> l(mu);
    closes.push_back(why);
  }
  std::vector<absl::Status> Closes() {
    std::lock_guard<std::mutex> l(mu);
    return closes;
  }

  std::atomic<int> opens{0};
  std::atomic<size_t> bytes_in{0};
  std::atomic<size_t> max_pending{0};
  std::mutex mu;
  std::vector<absl::Status> closes;
};

// Answers the first bytes with "bye" and closes.
class SayByeAndClose : public CallbackHandler {
 public:
  void OnData(CallbackConnection& c, std::span<const std::byte>) override {
    const char kBye[] = "bye";
    c.Write(std::as_bytes(std::span(kBye, 3)));
    c.Close();
    c.Write(std::as_bytes(std::span(kBye, 3)));  // ignored: the connection is ending
  }
  void OnClose(CallbackConnection&, const absl::Status& why) override { status = why; }
  absl::Status status = absl::UnknownError("OnClose never ran");
};

// --- Tasks -------------------------------------------------------------------

// Serves `fds` until every connection has ended.
Task<void> ServeUntilEmpty(CallbackHandler* h, std::vector<int> fds) {
  CallbackConnections conns(*h);
  for (int fd : fds) EXPECT_TRUE(conns.Add(AsyncFd::StreamFd(fd)).ok());
  co_await conns.WhenEmpty();
}

// Serves `fds` until cancelled; `*added` is set once they are in the set.
Task<void> ServeForever(CallbackHandler* h, std::vector<int> fds, std::atomic<bool>* added) {
  CallbackConnections conns(*h);
  for (int fd : fds) EXPECT_TRUE(conns.Add(AsyncFd::StreamFd(fd)).ok());
  added->store(true);
  co_await sleep_for(absl::InfiniteDuration());
}

Task<int64_t> PoolBytesInUse() {
  co_return static_cast<int64_t>(BufferPool::ForThisThread().Stats().bytes_in_use);
}

class CallbackConnectionTest : public testing_io::BackendSuite<1> {};

TEST_P(CallbackConnectionTest, EchoesEveryByteOfSeveralConnections) {
  Runtime rt(Options());
  EchoRecorder h;
  constexpr int kConns = 4;
  constexpr size_t kBytes = 2 << 20;
  std::vector<Pair> pairs;
  std::vector<int> fds;
  for (int i = 0; i < kConns; ++i) {
    pairs.push_back(MakePair());
    fds.push_back(pairs.back().reactor_fd);
  }
  JoinHandle<void> served = rt.spawn_on(0, ServeUntilEmpty(&h, fds));
  std::vector<std::thread> peers;
  std::atomic<int> matched{0};
  for (int i = 0; i < kConns; ++i) {
    peers.emplace_back([&, i] {
      const std::vector<std::byte> out = RandomBytes(kBytes, static_cast<unsigned>(i));
      std::vector<std::byte> in(kBytes);
      std::thread writer([&] { EXPECT_TRUE(SendAll(pairs[i].peer_fd, out.data(), out.size())); });
      EXPECT_TRUE(RecvAll(pairs[i].peer_fd, in.data(), in.size()));
      writer.join();
      if (in == out) matched.fetch_add(1);
      ::shutdown(pairs[i].peer_fd, SHUT_WR);
      char c;
      EXPECT_EQ(::recv(pairs[i].peer_fd, &c, 1, 0), 0) << "the server closes after EOF";
      ::close(pairs[i].peer_fd);
    });
  }
  for (auto& t : peers) t.join();
  ASSERT_TRUE(served.BlockingJoin().ok());
  EXPECT_EQ(matched.load(), kConns);
  EXPECT_EQ(h.opens.load(), kConns);
  EXPECT_EQ(h.bytes_in.load(), kConns * kBytes);
  std::vector<absl::Status> closes = h.Closes();
  ASSERT_EQ(closes.size(), static_cast<size_t>(kConns));
  for (const absl::Status& s : closes) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*rt.spawn_on(0, PoolBytesInUse()).BlockingJoin(), 0);
}

TEST_P(CallbackConnectionTest, APeerThatDoesNotReadPausesReadingAndLosesNothing) {
  Runtime rt(Options());
  EchoRecorder h;
  Pair p = MakePair();
  constexpr size_t kBytes = 8 << 20;
  const std::vector<std::byte> out = RandomBytes(kBytes, 7);
  JoinHandle<void> served = rt.spawn_on(0, ServeUntilEmpty(&h, {p.reactor_fd}));
  // The peer writes everything before reading anything: its writes stall
  // once both directions' socket buffers and one read's pending bytes fill.
  std::thread writer([&] { EXPECT_TRUE(SendAll(p.peer_fd, out.data(), out.size())); });
  absl::SleepFor(absl::Milliseconds(200));
  const size_t echoed_while_stalled = h.bytes_in.load();
  EXPECT_LT(echoed_while_stalled, kBytes) << "reading must pause while writes are pending";
  std::vector<std::byte> in(kBytes);
  EXPECT_TRUE(RecvAll(p.peer_fd, in.data(), in.size()));
  writer.join();
  EXPECT_TRUE(in == out);
  // Pending bytes never exceed what one read brought.
  EXPECT_LE(h.max_pending.load(), size_t{128} * 1024);
  ::close(p.peer_fd);
  ASSERT_TRUE(served.BlockingJoin().ok());
  ASSERT_EQ(h.Closes().size(), 1u);
  EXPECT_EQ(*rt.spawn_on(0, PoolBytesInUse()).BlockingJoin(), 0);
}

TEST_P(CallbackConnectionTest, CloseFromOnDataSendsPendingBytesFirst) {
  Runtime rt(Options());
  SayByeAndClose h;
  Pair p = MakePair();
  JoinHandle<void> served = rt.spawn_on(0, ServeUntilEmpty(&h, {p.reactor_fd}));
  ASSERT_TRUE(SendAll(p.peer_fd, reinterpret_cast<const std::byte*>("hello"), 5));
  char got[8] = {};
  ASSERT_TRUE(RecvAll(p.peer_fd, reinterpret_cast<std::byte*>(got), 3));
  EXPECT_STREQ(got, "bye");
  EXPECT_EQ(::recv(p.peer_fd, got, 1, 0), 0) << "closed after the reply, nothing more";
  ::close(p.peer_fd);
  ASSERT_TRUE(served.BlockingJoin().ok());
  EXPECT_TRUE(h.status.ok()) << h.status;
}

TEST_P(CallbackConnectionTest, APeerLeavingWithRepliesUnreadEndsWithAnError) {
  Runtime rt(Options());
  EchoRecorder h;
  Pair p = MakePair();
  const int fds_before = testing_io::CountOpenFds();
  JoinHandle<void> served = rt.spawn_on(0, ServeUntilEmpty(&h, {p.reactor_fd}));
  // Enough that the echo cannot all fit in the socket buffers.
  const std::vector<std::byte> out = RandomBytes(4 << 20, 3);
  std::thread writer([&] { (void)SendAll(p.peer_fd, out.data(), out.size()); });
  absl::SleepFor(absl::Milliseconds(100));
  ::shutdown(p.peer_fd, SHUT_RDWR);  // unblocks the writer
  writer.join();
  ::close(p.peer_fd);
  ASSERT_TRUE(served.BlockingJoin().ok());
  std::vector<absl::Status> closes = h.Closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_FALSE(closes[0].ok()) << "the echo could not be delivered";
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before - 2);
  EXPECT_EQ(*rt.spawn_on(0, PoolBytesInUse()).BlockingJoin(), 0);
}

TEST_P(CallbackConnectionTest, CancellingTheOwnerEndsEveryConnectionAndFreesEverything) {
  Runtime rt(Options());
  const int fds_before = testing_io::CountOpenFds();
  EchoRecorder h;
  std::vector<Pair> pairs;
  std::vector<int> fds;
  for (int i = 0; i < 50; ++i) {
    pairs.push_back(MakePair());
    fds.push_back(pairs.back().reactor_fd);
  }
  std::atomic<bool> added{false};
  JoinHandle<void> served = rt.spawn_on(0, ServeForever(&h, fds, &added));
  // Some connections mid-transfer with a blocked echo, the rest idle.
  const std::vector<std::byte> out = RandomBytes(1 << 20, 5);
  std::vector<std::thread> writers;
  for (int i = 0; i < 5; ++i) {
    writers.emplace_back([&, i] { (void)SendAll(pairs[i].peer_fd, out.data(), out.size()); });
  }
  while (!added.load()) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));
  served.cancel();
  EXPECT_TRUE(absl::IsCancelled(served.BlockingJoin()));
  std::vector<absl::Status> closes = h.Closes();
  ASSERT_EQ(closes.size(), 50u);
  for (const absl::Status& s : closes) EXPECT_TRUE(absl::IsCancelled(s)) << s;
  // Every reactor end is closed: the peers see EOF (or a reset).
  for (Pair& p : pairs) ::shutdown(p.peer_fd, SHUT_RDWR);
  for (auto& t : writers) t.join();
  for (Pair& p : pairs) ::close(p.peer_fd);
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
  EXPECT_EQ(*rt.spawn_on(0, PoolBytesInUse()).BlockingJoin(), 0);
}

TEST_P(CallbackConnectionTest, RuntimeShutdownEndsLiveConnections) {
  EchoRecorder h;
  std::vector<Pair> pairs;
  for (int i = 0; i < 10; ++i) pairs.push_back(MakePair());
  const int fds_before = testing_io::CountOpenFds();
  {
    Runtime rt(Options());
    std::vector<int> fds;
    for (Pair& p : pairs) fds.push_back(p.reactor_fd);
    std::atomic<bool> added{false};
    rt.spawn_on(0, ServeForever(&h, fds, &added)).detach();
    while (!added.load()) absl::SleepFor(absl::Milliseconds(1));
    ASSERT_TRUE(SendAll(pairs[0].peer_fd, reinterpret_cast<const std::byte*>("ping"), 4));
    char got[4];
    ASSERT_TRUE(RecvAll(pairs[0].peer_fd, reinterpret_cast<std::byte*>(got), 4));
    rt.Shutdown(absl::Milliseconds(50));
  }
  EXPECT_EQ(h.Closes().size(), 10u);
  for (Pair& p : pairs) {
    char c;
    EXPECT_EQ(::recv(p.peer_fd, &c, 1, 0), 0);
    ::close(p.peer_fd);
  }
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before - 20);
}

Task<void> IdleThenCheck(CallbackHandler* h, std::vector<int> fds, int64_t* pool_bytes,
                         size_t* size, bool* when_empty_timed_out) {
  CallbackConnections conns(*h);
  for (int fd : fds) EXPECT_TRUE(conns.Add(AsyncFd::StreamFd(fd)).ok());
  // Let every connection read, find nothing and wait.
  co_await sleep_for(absl::Milliseconds(20));
  *pool_bytes = static_cast<int64_t>(BufferPool::ForThisThread().Stats().bytes_in_use);
  *size = conns.size();
  // WhenEmpty under a timeout: cancelled cleanly, the set still works.
  *when_empty_timed_out = absl::IsDeadlineExceeded(
      co_await timeout(conns.WhenEmpty(), absl::Milliseconds(5)));
}

TEST_P(CallbackConnectionTest, IdleConnectionsHoldNoPoolMemory) {
  Runtime rt(Options());
  EchoRecorder h;
  std::vector<Pair> pairs;
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    pairs.push_back(MakePair());
    fds.push_back(pairs.back().reactor_fd);
  }
  int64_t pool_bytes = -1;
  size_t size = 0;
  bool timed_out = false;
  ASSERT_TRUE(rt.spawn_on(0, IdleThenCheck(&h, fds, &pool_bytes, &size, &timed_out))
                  .BlockingJoin()
                  .ok());
  EXPECT_EQ(pool_bytes, 0);
  EXPECT_EQ(size, 100u);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(h.Closes().size(), 100u);  // the set went with the task
  for (Pair& p : pairs) ::close(p.peer_fd);
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbackConnectionTest,
                         ::testing::ValuesIn(testing_io::AllBackends()), testing_io::BackendName);

// --- Server's callback mode ---------------------------------------------------

int ConnectTo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

class CallbackServerTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(CallbackServerTest, EchoesOnEveryCoreThenDrainsAndCancelsTheRest) {
  auto h = std::make_shared<EchoRecorder>();
  ServerOptions o;
  o.address = *SocketAddress::Parse("127.0.0.1:0");
  o.runtime = RuntimeOptions{.n_cores = 2, .backend = GetParam()};
  o.shutdown_grace = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(o, h);
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->local_address().port();
  std::vector<int> clients;
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectTo(port);
    ASSERT_GE(fd, 0);
    clients.push_back(fd);
    const std::string msg = "message " + std::to_string(i);
    ASSERT_TRUE(SendAll(fd, reinterpret_cast<const std::byte*>(msg.data()), msg.size()));
    std::string got(msg.size(), '\0');
    ASSERT_TRUE(RecvAll(fd, reinterpret_cast<std::byte*>(got.data()), got.size()));
    EXPECT_EQ(got, msg);
  }
  // 19 leave; one stays idle through the shutdown.
  for (int i = 1; i < 20; ++i) ::close(clients[i]);
  (*server)->Stop();
  (*server)->Run();  // returns at once (Stop), closing the listeners
  EXPECT_EQ(ConnectTo(port), -1) << "the listeners are closed";
  server->reset();  // grace, then the idle connection is cancelled
  char c;
  EXPECT_EQ(::recv(clients[0], &c, 1, 0), 0);
  ::close(clients[0]);
  std::vector<absl::Status> closes = h->Closes();
  ASSERT_EQ(closes.size(), 20u);
  EXPECT_EQ(std::count_if(closes.begin(), closes.end(),
                          [](const absl::Status& s) { return absl::IsCancelled(s); }),
            1);
  EXPECT_EQ(h->opens.load(), 20);
}

TEST(CallbackServerOptionsTest, DistributingFromCore0IsRefused) {
  ServerOptions o;
  o.address = *SocketAddress::Parse("127.0.0.1:0");
  o.accept = ServerOptions::Accept::kDistributeFromCore0;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(o, std::make_shared<EchoRecorder>());
  EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbackServerTest,
                         ::testing::ValuesIn(testing_io::AllBackends()), testing_io::BackendName);

}  // namespace
}  // namespace readbuf
