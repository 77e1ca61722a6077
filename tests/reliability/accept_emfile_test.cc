// Fault injection: accept(2) hits EMFILE (the process is out of file
// descriptors) while connections wait in the listen backlog, on both
// backends (on io_uring the kernel's multishot accept reports the EMFILE).
// Expected (io/net.h): TcpListener::accept neither fails nor spins: it backs
// off (1 ms doubling to 128 ms, counted in accept_backoffs()) while the fds
// stay exhausted, so the process uses almost no CPU; it can be cancelled
// meanwhile; and once fds are free it returns every queued connection, and
// the connections carry bytes.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/reliability/fault_test_util.h"

namespace readbuf {
namespace {

constexpr int kQueued = 3;
constexpr absl::Duration kExhausted = absl::Seconds(1);

// A blocking client socket connected to `port` on 127.0.0.1 (the handshake
// completes in the kernel, so the connection waits in the backlog).
int ConnectBlocking(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Opens /dev/null until the process is out of fds; returns what it opened.
std::vector<int> ExhaustFds(int* last_errno) {
  std::vector<int> fds;
  for (;;) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *last_errno = errno;
      return fds;
    }
    fds.push_back(fd);
  }
}

// What the server's accept loop saw.
struct AcceptLog {
  std::atomic<int> errors{0};
  std::atomic<int> accepted{0};
  absl::Status first_error;  // written on the core before `errors` rises
  std::vector<TcpStream> conns;
};

// A server's accept loop: accepts kQueued connections, counting errors.
Task<void> AcceptQueued(TcpListener* listener, AcceptLog* log) {
  while (log->accepted.load() < kQueued) {
    absl::StatusOr<TcpStream> conn = co_await listener->accept();
    if (!conn.ok()) {
      if (log->errors.load() == 0) log->first_error = conn.status();
      log->errors.fetch_add(1);
      co_return;  // accept is not expected to fail at EMFILE
    }
    log->conns.push_back(*std::move(conn));
    log->accepted.fetch_add(1);
  }
}

// One byte through each accepted connection to its client.
Task<absl::Status> SayHello(AcceptLog* log) {
  for (TcpStream& c : log->conns) {
    const std::byte b{'!'};
    if (absl::Status w = co_await c.write_all(std::span(&b, 1)); !w.ok()) co_return w;
  }
  co_return absl::OkStatus();
}

bool WaitDone(JoinHandle<void>& h, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (!h.done() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return h.done();
}

// UBSan's vptr check (on under --config=asan) opens a pipe to probe memory;
// with no fd free it fails and reports a false "invalid vptr" when a task's
// state is destroyed while the fds are exhausted. These tests run in the
// default and clang configs.
#if defined(__SANITIZE_ADDRESS__)
#define READBUF_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define READBUF_TEST_UNDER_ASAN 1
#endif
#endif

class AcceptEmfileTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
#ifdef READBUF_TEST_UNDER_ASAN
    GTEST_SKIP() << "UBSan needs free fds for its vptr check; runs without sanitizers";
#endif
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
  }
  void TearDown() override {
    for (int fd : fillers_) ::close(fd);
    for (int fd : clients_) ::close(fd);
    if (saved_.rlim_max != 0) ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

  // Lowers the soft fd limit a little above what is open, then fills it.
  void RunOutOfFds() {
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(reliability::CountOpenFds() + 64);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    int err = 0;
    fillers_ = ExhaustFds(&err);
    ASSERT_EQ(err, EMFILE);
  }
  void FreeFds() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
  }

  rlimit saved_{};
  std::vector<int> fillers_;
  std::vector<int> clients_;
};

TEST_P(AcceptEmfileTest, WaitingAcceptAtEmfileCanBeCancelled) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  const int fd = ConnectBlocking(l->local_addr()->port());
  ASSERT_GE(fd, 0);
  clients_.push_back(fd);
  RunOutOfFds();

  AcceptLog log;
  JoinHandle<void> pending = rt.spawn(AcceptQueued(&*l, &log));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(pending.done()) << "accept gave up at EMFILE: " << log.first_error;
  pending.cancel();
  ASSERT_TRUE(WaitDone(pending, absl::Seconds(5))) << "a backing-off accept ignored cancel";
  EXPECT_EQ(log.accepted.load(), 0);
  EXPECT_EQ(log.errors.load(), 0) << log.first_error;

  // The listener is still usable: with fds back, the queued connection comes.
  FreeFds();
  AcceptLog after;
  JoinHandle<void> again = rt.spawn(AcceptQueued(&*l, &after));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(after.accepted.load(), 1);
  again.cancel();
  ASSERT_TRUE(WaitDone(again, absl::Seconds(5)));
  absl::Status closed = rt.block_on([](AcceptLog* log) -> Task<void> {
    log->conns.clear();  // close on the core
    co_return;
  }(&after));
  EXPECT_TRUE(closed.ok()) << closed;
}

TEST_P(AcceptEmfileTest, RecoversOnceFdsAreFreeWithoutSpinning) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  for (int i = 0; i < kQueued; ++i) {
    const int fd = ConnectBlocking(l->local_addr()->port());
    ASSERT_GE(fd, 0);
    clients_.push_back(fd);
  }
  RunOutOfFds();

  AcceptLog log;
  const absl::Duration cpu_before = reliability::ProcessCpuTime();
  JoinHandle<void> server = rt.spawn(AcceptQueued(&*l, &log));
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(kExhausted));
  const absl::Duration cpu = reliability::ProcessCpuTime() - cpu_before;

  // Still out of fds: nothing accepted, nothing failed, idle CPU.
  EXPECT_EQ(log.accepted.load(), 0);
  EXPECT_EQ(log.errors.load(), 0) << log.first_error;
  EXPECT_LT(cpu, absl::Milliseconds(200)) << "the core spun while accept hit EMFILE";

  FreeFds();
  ASSERT_TRUE(WaitDone(server, absl::Seconds(5)))
      << "queued connections not accepted after fds were freed";
  EXPECT_TRUE(server.BlockingJoin().ok());
  ASSERT_EQ(log.accepted.load(), kQueued);
  EXPECT_EQ(log.errors.load(), 0) << log.first_error;
  // Backed off, with the delay doubling: a handful of retries, not a spin.
  EXPECT_GE(l->accept_backoffs(), 3u);
  EXPECT_LE(l->accept_backoffs(), 40u);

  // Every recovered connection works.
  absl::Status hello = rt.block_on(SayHello(&log));
  ASSERT_TRUE(hello.ok()) << hello;
  for (int fd : clients_) {
    char c = 0;
    EXPECT_EQ(::read(fd, &c, 1), 1);
    EXPECT_EQ(c, '!');
  }
  absl::Status closed = rt.block_on([](AcceptLog* log) -> Task<void> {
    log->conns.clear();  // close on the core that owns them
    co_return;
  }(&log));
  EXPECT_TRUE(closed.ok()) << closed;
}

INSTANTIATE_TEST_SUITE_P(Backends, AcceptEmfileTest,
                         ::testing::ValuesIn(reliability::BothBackends()),
                         reliability::BackendParamName);

}  // namespace
}  // namespace readbuf
