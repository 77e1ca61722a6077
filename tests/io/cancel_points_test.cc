// Every awaitable, cancelled at each of its suspension points
// (tests/io/cancel_points.h), through JoinHandle::cancel() and through
// timeout(), on both backends: an echo with each buffer policy, pooled_read
// (the io_uring ring on uring), pooled_read_callback, pooled_copy (splice and
// pool blocks), Channel, AsyncMutex, RingBuffer, accept, connect,
// File::read_at (a kernel op on uring), sleep_for, a nested timeout(),
// spawn_blocking, and a CallbackConnections set in the cancelled frame.
// Peers are plain threads with blocking sockets, so they misbehave exactly
// as the cancelled side makes them: a cut connection mid-message.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/async_mutex.h"
#include "io/callback_connection.h"
#include "io/channel.h"
#include "io/file.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/ring_buffer.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/spawn_blocking.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/cancel_points.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using testing_io::CancelExploration;
using testing_io::CancelVia;
using testing_io::ExploreCancellation;
using testing_io::ScenarioRun;

using Param = std::tuple<BackendKind, CancelVia>;

class CancelPointsTest : public ::testing::TestWithParam<Param> {
 protected:
  BackendKind backend() const { return std::get<0>(GetParam()); }
  CancelVia via() const { return std::get<1>(GetParam()); }
  RuntimeOptions Options(int cores = 1) {
    return RuntimeOptions{.n_cores = cores, .backend = backend()};
  }
  // Explores the scenario and reports what it tried.
  void Explore(Runtime& rt, std::function<ScenarioRun()> make, int min_points = 1) {
    // The number of suspensions varies from run to run (a peer's bytes
    // arrive in one read or two; another core answers before or after we
    // wait); every run up to the uncancelled one was cancelled at its chosen
    // point, so the points tried are the cancelled runs. On a loaded machine
    // another core can answer before this one ever waits: explore again
    // (at most 5 times) until the scenario suspended at least `min_points`
    // times, so the test still covers them.
    CancelExploration e = ExploreCancellation(rt, via(), make);
    for (int attempt = 1; attempt < 5 && e.failure.empty() && e.cancelled_runs < min_points;
         ++attempt) {
      e = ExploreCancellation(rt, via(), make);
    }
    EXPECT_EQ(e.failure, "");
    EXPECT_GE(e.cancelled_runs, min_points);
    RecordProperty("cancellation_points", e.points);
    std::printf("[ points   ] %s: %d suspension points, %d cancelled runs\n",
                ::testing::UnitTest::GetInstance()->current_test_info()->name(), e.points,
                e.cancelled_runs);
  }
};

// --- Peers ------------------------------------------------------------------

// A connected AF_UNIX stream pair: the reactor's end (non-blocking) and the
// peer's (blocking, with 5 s timeouts so a peer can never hang a test).
struct SocketPair {
  int reactor_fd;
  int peer_fd;
};

SocketPair MakeSocketPair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return {sv[0], sv[1]};
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n != 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false at EOF, error or timeout.
bool RecvAll(int fd, char* p, size_t n) {
  while (n != 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void DrainToEof(int fd) {
  char buf[4096];
  while (::recv(fd, buf, sizeof(buf), 0) > 0) {
  }
}

// Sends `rounds` messages of `size` bytes, each after the previous one came
// back intact, then half-closes and waits for EOF. Stops at the first cut.
void EchoPeer(int fd, int rounds, size_t size, std::shared_ptr<std::atomic<int>> bad) {
  std::vector<char> out(size), in(size);
  bool cut = false;
  for (int r = 0; r < rounds && !cut; ++r) {
    for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(r * 31 + i);
    if (!SendAll(fd, out.data(), size) || !RecvAll(fd, in.data(), size)) {
      cut = true;
    } else if (in != out) {
      bad->fetch_add(1);
    }
  }
  ::shutdown(fd, SHUT_WR);
  DrainToEof(fd);
  ::close(fd);
}

// Spawns a helper task on `core` from a plain thread, so its coroutine frame
// is not allocated on core 0 (whose frame count the harness checks) while it
// is freed on `core`.
template <class T>
std::shared_ptr<JoinHandle<T>> SpawnFromAnotherThread(Runtime& rt, int core,
                                                       std::function<Task<T>()> make) {
  std::shared_ptr<JoinHandle<T>> h;
  std::thread([&] { h = std::make_shared<JoinHandle<T>>(rt.spawn_on(core, make())); }).join();
  return h;
}

std::function<void()> JoinAndCheck(std::shared_ptr<std::thread> t,
                                    std::shared_ptr<std::atomic<int>> bad) {
  return [t, bad] {
    t->join();
    EXPECT_EQ(bad->load(), 0) << "the peer received wrong bytes";
  };
}

// --- Echo with each policy ---------------------------------------------------

template <class Policy>
Task<absl::Status> EchoScenario(UnixStream conn, Policy buf) {
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(conn, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    if (absl::Status s = co_await write_filled(conn, buf); !s.ok()) co_return s;
    buf.clear();
  }
}

template <class Policy>
ScenarioRun MakeEcho() {
  SocketPair sp = MakeSocketPair();
  auto bad = std::make_shared<std::atomic<int>>(0);
  auto peer = std::make_shared<std::thread>(EchoPeer, sp.peer_fd, 6, 3000, bad);
  return {EchoScenario(UnixStream(AsyncFd::StreamFd(sp.reactor_fd)), Policy(4096)),
          JoinAndCheck(peer, bad)};
}

TEST_P(CancelPointsTest, EchoZeroed) {
  Runtime rt(Options());
  Explore(rt, MakeEcho<Zeroed>, 6);
}
TEST_P(CancelPointsTest, EchoUninit) {
  Runtime rt(Options());
  Explore(rt, MakeEcho<Uninit>, 6);
}
TEST_P(CancelPointsTest, EchoVectored) {
  Runtime rt(Options());
  Explore(rt, MakeEcho<Vectored<4>>, 6);
}
TEST_P(CancelPointsTest, EchoDyn) {
  Runtime rt(Options());
  Explore(rt, MakeEcho<Dyn>, 6);
}
TEST_P(CancelPointsTest, EchoPooled) {
  Runtime rt(Options());
  Explore(rt, MakeEcho<Pooled>, 6);
}

// --- pooled_read (the ring on io_uring) and pooled_read_callback ------------

// How the ring echo answers: write_all, or send_all (on io_uring a kernel
// send, as examples/echo_server --policy=uring does, so both halves of the
// echo are kernel ops).
enum class EchoWrite { kWriteAll, kSendAll };

Task<absl::Status> PooledReadEcho(UnixStream conn, bool expect_ring, EchoWrite how) {
  for (;;) {
    absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(conn);
    if (!b.ok()) co_return b.status();
    if (expect_ring && recv_ring_stats().completions == 0) {
      co_return absl::InternalError("the read did not go through the ring");
    }
    if (!b->has_value()) co_return absl::OkStatus();
    absl::Status s;
    if (how == EchoWrite::kSendAll) {
      s = co_await conn.send_all((*b)->span());
    } else {
      s = co_await conn.write_all((*b)->span());
    }
    if (!s.ok()) co_return s;
  }
}

// A scenario maker: PooledReadEcho against an EchoPeer on a socketpair.
std::function<ScenarioRun()> PooledReadEchoScenario(Runtime& rt, EchoWrite how) {
  const bool ring = rt.backend_name() == std::string("io_uring");
  return [ring, how] {
    SocketPair sp = MakeSocketPair();
    auto bad = std::make_shared<std::atomic<int>>(0);
    auto peer = std::make_shared<std::thread>(EchoPeer, sp.peer_fd, 6, 3000, bad);
    return ScenarioRun{PooledReadEcho(UnixStream(AsyncFd::StreamFd(sp.reactor_fd)), ring, how),
                       JoinAndCheck(peer, bad)};
  };
}

TEST_P(CancelPointsTest, PooledReadThroughTheRing) {
  Runtime rt(Options());
  Explore(rt, PooledReadEchoScenario(rt, EchoWrite::kWriteAll), 6);
}

TEST_P(CancelPointsTest, RingEchoWithKernelSends) {
  Runtime rt(Options());
  Explore(rt, PooledReadEchoScenario(rt, EchoWrite::kSendAll), 6);
}

Task<absl::Status> PooledReadCallbackEcho(UnixStream conn) {
  std::string pending;
  for (;;) {
    absl::StatusOr<size_t> n = co_await pooled_read_callback(
        conn, 0, [&pending](std::span<const std::byte> b) {
          pending.append(reinterpret_cast<const char*>(b.data()), b.size());
        });
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    if (absl::Status s = co_await conn.write_all(std::as_bytes(std::span(pending))); !s.ok()) {
      co_return s;
    }
    pending.clear();
  }
}

TEST_P(CancelPointsTest, PooledReadCallback) {
  Runtime rt(Options());
  Explore(rt, [] {
    SocketPair sp = MakeSocketPair();
    auto bad = std::make_shared<std::atomic<int>>(0);
    auto peer = std::make_shared<std::thread>(EchoPeer, sp.peer_fd, 6, 3000, bad);
    return ScenarioRun{PooledReadCallbackEcho(UnixStream(AsyncFd::StreamFd(sp.reactor_fd))),
                       JoinAndCheck(peer, bad)};
  }, 6);
}

// --- pooled_copy ------------------------------------------------------------

Task<absl::Status> CopyScenario(UnixStream src, UnixStream dst, bool splice) {
  PooledCopyOptions options;
  options.allow_splice = splice;
  options.max_chunk = 16 * 1024;
  absl::StatusOr<uint64_t> n = co_await pooled_copy(src, dst, options);
  if (!n.ok()) co_return n.status();
  if (*n != 256 * 1024) co_return absl::InternalError(absl::StrCat("copied ", *n));
  co_return dst.shutdown(SHUT_WR);
}

ScenarioRun MakeCopy(bool splice) {
  SocketPair in = MakeSocketPair();
  SocketPair out = MakeSocketPair();
  auto bad = std::make_shared<std::atomic<int>>(0);
  auto writer = std::make_shared<std::thread>([fd = in.peer_fd] {
    std::vector<char> chunk(16 * 1024, 'c');
    for (int i = 0; i < 16; ++i) {
      if (!SendAll(fd, chunk.data(), chunk.size())) break;
      ::usleep(200);
    }
    ::shutdown(fd, SHUT_WR);
    DrainToEof(fd);
    ::close(fd);
  });
  auto reader = std::make_shared<std::thread>([fd = out.peer_fd, bad] {
    char buf[8192];
    ssize_t r;
    while ((r = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
      for (ssize_t i = 0; i < r; ++i) {
        if (buf[i] != 'c') bad->fetch_add(1);
      }
    }
    ::close(fd);
  });
  return {CopyScenario(UnixStream(AsyncFd::StreamFd(in.reactor_fd)),
                       UnixStream(AsyncFd::StreamFd(out.reactor_fd)), splice),
          [writer, reader, bad] {
            writer->join();
            reader->join();
            EXPECT_EQ(bad->load(), 0);
          }};
}

TEST_P(CancelPointsTest, PooledCopyWithSplice) {
  Runtime rt(Options());
  Explore(rt, [] { return MakeCopy(true); });
}

TEST_P(CancelPointsTest, PooledCopyThroughPoolBlocks) {
  Runtime rt(Options());
  Explore(rt, [] { return MakeCopy(false); });
}

// --- Channel: woken from another thread (a pinned wake-up) ------------------

Task<absl::Status> ReceiveAll(std::shared_ptr<Channel<int>> ch) {
  int expect = 0;
  for (;;) {
    absl::StatusOr<int> v = co_await ch->receive();
    if (!v.ok()) break;  // closed and drained
    if (*v != expect++) co_return absl::InternalError("out of order");
  }
  if (expect != 12) co_return absl::InternalError(absl::StrCat("received ", expect));
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, ChannelReceiveWokenFromAnotherThread) {
  Runtime rt(Options());
  Explore(rt, [] {
    auto ch = std::make_shared<Channel<int>>();
    auto producer = std::make_shared<std::thread>([ch] {
      for (int i = 0; i < 12; ++i) {
        ::usleep(300);
        (void)ch->send(i);
      }
      ch->close();
    });
    return ScenarioRun{ReceiveAll(ch), [producer] { producer->join(); }};
  }, 2);
}

// --- AsyncMutex, contended from another core --------------------------------

Task<void> Contend(std::shared_ptr<AsyncMutex<int>> m, std::shared_ptr<std::atomic<bool>> stop) {
  while (!stop->load()) {
    auto g = co_await m->lock();
    ++*g;
    co_await sleep_for(absl::Microseconds(300));
  }
}

Task<absl::Status> LockRepeatedly(std::shared_ptr<AsyncMutex<int>> m) {
  for (int i = 0; i < 6; ++i) {
    auto g = co_await m->lock();
    ++*g;
    co_await sleep_for(absl::Microseconds(200));
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, AsyncMutexLockContendedFromAnotherCore) {
  Runtime rt(Options(2));
  Explore(rt, [&rt] {
    auto m = std::make_shared<AsyncMutex<int>>(0);
    auto stop = std::make_shared<std::atomic<bool>>(false);
    auto contender = SpawnFromAnotherThread<void>(rt, 1, [m, stop] { return Contend(m, stop); });
    return ScenarioRun{LockRepeatedly(m), [contender, stop, m] {
                         stop->store(true);
                         EXPECT_TRUE(contender->BlockingJoin().ok());
                         EXPECT_FALSE(m->is_locked()) << "a cancelled lock() left it locked";
                       }};
  }, 2);
}

// --- RingBuffer, with an echoing task on another core -----------------------

Task<void> RingEcho(std::shared_ptr<RingBuffer<int>> in, std::shared_ptr<RingBuffer<int>> out) {
  for (;;) {
    absl::StatusOr<int> v = co_await in->recv();
    if (!v.ok()) co_return;
    if (!(co_await out->send(*v)).ok()) co_return;
  }
}

Task<absl::Status> RingRoundTrips(std::shared_ptr<RingBuffer<int>> to, std::shared_ptr<RingBuffer<int>> from) {
  for (int i = 0; i < 8; ++i) {
    if (absl::Status s = co_await to->send(i); !s.ok()) co_return s;
    absl::StatusOr<int> v = co_await from->recv();
    if (!v.ok()) co_return v.status();
    if (*v != i) co_return absl::InternalError("out of order");
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, RingBufferSendAndRecvAcrossCores) {
  Runtime rt(Options(2));
  Explore(rt, [&rt] {
    auto to = std::make_shared<RingBuffer<int>>(1);
    auto from = std::make_shared<RingBuffer<int>>(1);
    auto echo = SpawnFromAnotherThread<void>(rt, 1, [to, from] { return RingEcho(to, from); });
    return ScenarioRun{RingRoundTrips(to, from), [echo, to, from] {
                         to->close();
                         from->close();
                         EXPECT_TRUE(echo->BlockingJoin().ok());
                       }};
  }, 2);
}

// --- accept and connect -----------------------------------------------------

Task<absl::Status> AcceptSome(TcpListener listener, int n) {
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<TcpStream> c = co_await listener.accept();
    if (!c.ok()) co_return c.status();
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, Accept) {
  Runtime rt(Options());
  Explore(rt, [] {
    absl::StatusOr<TcpListener> l = TcpListener::bind(testing_io::Loopback());
    EXPECT_TRUE(l.ok());
    const SocketAddress addr = *l->local_addr();
    auto peer = std::make_shared<std::thread>([addr] {
      for (int i = 0; i < 4; ++i) {
        ::usleep(500);
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void)::connect(fd, addr.sockaddr_ptr(), addr.length());
        ::close(fd);
      }
    });
    return ScenarioRun{AcceptSome(*std::move(l), 4), [peer] { peer->join(); }};
  }, 2);
}

Task<absl::Status> ConnectSome(SocketAddress addr, int n) {
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<TcpStream> c = co_await TcpStream::connect(addr);
    if (!c.ok()) co_return c.status();
    if (absl::Status s = co_await c->write_all(std::as_bytes(std::span("x", 1))); !s.ok()) {
      co_return s;
    }
    std::byte b[1];
    absl::StatusOr<size_t> r = co_await c->read(b);  // the peer's reply
    if (!r.ok()) co_return r.status();
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, Connect) {
  Runtime rt(Options());
  Explore(rt, [] {
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(lfd, 16), 0);
    socklen_t len = sizeof(a);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    const SocketAddress addr = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&a), len);
    auto peer = std::make_shared<std::thread>([lfd] {
      for (;;) {
        const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;  // shut down by `after`
        timeval tv{.tv_sec = 5, .tv_usec = 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char b;
        if (::recv(c, &b, 1, 0) == 1) (void)::send(c, &b, 1, MSG_NOSIGNAL);
        ::close(c);
      }
    });
    return ScenarioRun{ConnectSome(addr, 3), [peer, lfd] {
                         ::shutdown(lfd, SHUT_RDWR);  // ends the blocking accept
                         peer->join();
                         ::close(lfd);
                       }};
  }, 3);
}

// --- File::read_at: an io_uring kernel op pins its scope --------------------

// Reads until `total` bytes came. (Counting bytes, not reads: a slow
// reader -- TSan -- may get two of the writer's chunks in one read, and the
// FIFO never reports EOF while its own O_RDWR fd is open.)
Task<absl::Status> ReadFifoBytes(std::shared_ptr<File> f, size_t total) {
  std::byte buf[64];
  size_t got = 0;
  while (got < total) {
    absl::StatusOr<size_t> n = co_await f->read_at(buf, 0);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::InternalError("EOF");
    got += *n;
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, FileReadAtInTheKernel) {
  Runtime rt(Options());
  if (rt.backend_name() != std::string("io_uring")) {
    GTEST_SKIP() << "epoll reads files with pread on the core thread: no suspension";
  }
  const std::string fifo = absl::StrCat(::testing::TempDir(), "/cancel_points.", ::getpid(), ".fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Explore(rt, [&fifo] {
    // O_RDWR: the open does not block, and a read waits in the kernel.
    auto f = std::make_shared<File>(*File::open(fifo, O_RDWR));
    auto writer = std::make_shared<std::thread>([&fifo] {
      const int w = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
      for (int i = 0; i < 4; ++i) {
        ::usleep(1000);
        if (::write(w, "0123456789", 10) != 10) break;
      }
      ::close(w);
    });
    return ScenarioRun{ReadFifoBytes(f, 40), [writer, f] {
                         writer->join();
                         // Bytes a cancelled run left in the FIFO go with it.
                         f->close();
                       }};
  }, 1);
  ::unlink(fifo.c_str());
}

// --- sleep_for and a nested timeout -----------------------------------------

Task<absl::Status> Sleeps() {
  for (int i = 0; i < 5; ++i) co_await sleep_for(absl::Microseconds(500));
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, SleepFor) {
  Runtime rt(Options());
  Explore(rt, [] { return ScenarioRun{Sleeps(), [] {}}; }, 5);
}

Task<absl::Status> TimedReads(UnixStream conn) {
  Uninit buf(4096);
  for (;;) {
    absl::StatusOr<size_t> n = co_await timeout(read_into(conn, buf), absl::Seconds(5));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::OkStatus();
    absl::Status s = co_await timeout(write_filled(conn, buf), absl::Seconds(5));
    if (!s.ok()) co_return s;
    buf.clear();
  }
}

TEST_P(CancelPointsTest, EchoWithItsOwnTimeouts) {
  Runtime rt(Options());
  Explore(rt, [] {
    SocketPair sp = MakeSocketPair();
    auto bad = std::make_shared<std::atomic<int>>(0);
    auto peer = std::make_shared<std::thread>(EchoPeer, sp.peer_fd, 4, 2000, bad);
    return ScenarioRun{TimedReads(UnixStream(AsyncFd::StreamFd(sp.reactor_fd))),
                       JoinAndCheck(peer, bad)};
  }, 4);
}

// --- spawn_blocking ------------------------------------------------------------

// A blocking call's result, counted while it exists: a cancelled awaiter
// must leave it to be destroyed when it arrives, never leak it.
class CountedResult {
 public:
  CountedResult(std::shared_ptr<std::atomic<int>> live, int value)
      : live_(std::move(live)), value_(value) {
    live_->fetch_add(1);
  }
  CountedResult(CountedResult&& o) noexcept : live_(std::move(o.live_)), value_(o.value_) {}
  CountedResult& operator=(CountedResult&& o) noexcept {
    if (live_ != nullptr) live_->fetch_sub(1);
    live_ = std::move(o.live_);
    value_ = o.value_;
    return *this;
  }
  ~CountedResult() {
    if (live_ != nullptr) live_->fetch_sub(1);
  }
  int value() const { return value_; }

 private:
  std::shared_ptr<std::atomic<int>> live_;
  int value_;
};

Task<absl::Status> BlockingCalls(std::shared_ptr<std::atomic<int>> live) {
  for (int i = 0; i < 4; ++i) {
    // Named before the co_await: GCC 12 miscompiles a capturing lambda
    // written inside a co_await expression (see io/spawn_blocking.h).
    BlockingHandle<CountedResult> h = spawn_blocking([live, i] {
      absl::SleepFor(absl::Microseconds(300));
      return CountedResult(live, i);
    });
    JoinResult<CountedResult> r = co_await std::move(h);
    if (!r.ok()) co_return r.status();
    if (r->value() != i) co_return absl::InternalError("a blocking call returned another's value");
  }
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, SpawnBlocking) {
  Runtime rt(Options());
  Explore(rt, [] {
    auto live = std::make_shared<std::atomic<int>>(0);
    return ScenarioRun{BlockingCalls(live), [live] {
      // A call whose awaiter was cancelled still runs to its end on the pool;
      // its result must then be destroyed there.
      absl::Time deadline = absl::Now() + absl::Seconds(5);
      while (live->load() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
      EXPECT_EQ(live->load(), 0) << "a blocking call's result outlived its cancelled awaiter";
    }};
  }, 4);
}

// --- Callback connections owned by the cancelled frame ---------------------------

class CallbackEchoHandler : public CallbackHandler {
 public:
  void OnData(CallbackConnection& c, std::span<const std::byte> bytes) override { c.Write(bytes); }
};

// Adds the connections one by one, then waits for them to end: a cancel at
// any point destroys the set with the frame, ending every connection (its
// fd closed, its pool blocks back), with echoes possibly mid-flight.
Task<absl::Status> CallbackEchoes(std::vector<AsyncFd> fds) {
  CallbackEchoHandler handler;
  CallbackConnections conns(handler);
  for (AsyncFd& fd : fds) {
    if (absl::Status s = conns.Add(std::move(fd)); !s.ok()) co_return s;
    co_await sleep_for(absl::Microseconds(300));
  }
  co_await conns.WhenEmpty();
  co_return absl::OkStatus();
}

TEST_P(CancelPointsTest, CallbackConnections) {
  Runtime rt(Options());
  Explore(rt, [] {
    std::vector<AsyncFd> fds;  // owned by the frame until added
    auto bad = std::make_shared<std::atomic<int>>(0);
    std::vector<std::shared_ptr<std::thread>> peers;
    for (int i = 0; i < 3; ++i) {
      SocketPair sp = MakeSocketPair();
      fds.push_back(AsyncFd::StreamFd(sp.reactor_fd));
      peers.push_back(std::make_shared<std::thread>(EchoPeer, sp.peer_fd, 8, 3000, bad));
    }
    return ScenarioRun{CallbackEchoes(std::move(fds)), [peers, bad] {
      for (const auto& t : peers) t->join();
      EXPECT_EQ(bad->load(), 0) << "a peer received wrong bytes";
    }};
  }, 4);
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return absl::StrCat(std::get<0>(info.param) == BackendKind::kEpoll ? "epoll" : "uring", "_",
                      testing_io::CancelViaName(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(
    All, CancelPointsTest,
    ::testing::Combine(::testing::ValuesIn(testing_io::AllBackends()),
                       ::testing::Values(CancelVia::kJoinHandle, CancelVia::kTimeout)),
    ParamName);

}  // namespace
}  // namespace readbuf
