// StreamSocket::send_all: every byte arrives in order on both backends (on
// io_uring, sends of at most 16 KiB as kernel ops, counted by the core's
// kernel-op stats; larger ones as write(2)), errors name the send, and
// sends stuck on a peer that never reads end cleanly by timeout, by cancel
// and by shutdown, with the fd released.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/async_fd.h"
#include "io/file.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/internal/fd_ops.h"
#include "io/internal/kernel_op.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using testing_io::CountOpenFds;
using testing_io::RandomBytes;

class SendAllTest : public testing_io::BackendSuite<2> {
 protected:
  bool Uring(Runtime& rt) const { return rt.backend_name() == std::string("io_uring"); }
};

std::uint64_t KernelOpsStarted() {
  io_internal::KernelOpStats st;
  io_internal::CurrentCore()->backend()->GetKernelOpStats(&st);
  return st.started;
}

struct SendReport {
  absl::Status status;
  std::uint64_t kernel_ops = 0;  // kernel ops this core started meanwhile
  int small_sends = 0;           // sends of at most kKernelSendMax bytes
  int large_sends = 0;
};

// Sends `data` in chunks of random sizes (1 byte to 32 KiB, so both sides of
// the 16 KiB line), then shuts down the writing side.
Task<SendReport> SendInChunks(TcpStream* conn, const std::vector<std::byte>* data) {
  SendReport report;
  const std::uint64_t before = KernelOpsStarted();
  std::mt19937 rng(7);
  std::span<const std::byte> left(*data);
  while (!left.empty()) {
    const size_t n = std::min<size_t>(left.size(), 1 + rng() % (32 * 1024));
    report.status = co_await conn->send_all(left.first(n));
    if (!report.status.ok()) co_return report;
    ++(n <= io_internal::kKernelSendMax ? report.small_sends : report.large_sends);
    left = left.subspan(n);
  }
  report.kernel_ops = KernelOpsStarted() - before;
  report.status = conn->shutdown(SHUT_WR);
  co_return report;
}

// Reads to EOF in small reads, with pauses, so the sender's socket fills
// and the kernel has to wait for room.
void SlowReader(int fd, std::vector<std::byte>* got) {
  std::byte buf[3000];
  int reads = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    got->insert(got->end(), buf, buf + n);
    if (++reads % 200 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST_P(SendAllTest, EveryByteArrivesInOrder) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(testing_io::Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  absl::StatusOr<testing_io::ConnectedPair> pair = rt.block_on(testing_io::Connect(&*l));
  ASSERT_TRUE(pair.ok()) << pair.status();
  // The reader is a plain thread on a blocking dup of the client's fd.
  const int reader_fd = ::dup(pair->client.async_fd().fd());
  ASSERT_GE(reader_fd, 0);
  int flags = ::fcntl(reader_fd, F_GETFL);
  ASSERT_EQ(::fcntl(reader_fd, F_SETFL, flags & ~O_NONBLOCK), 0);
  pair->client.close();
  const std::vector<std::byte> data = RandomBytes(8 << 20, 42);
  std::vector<std::byte> got;
  std::thread reader(SlowReader, reader_fd, &got);
  absl::StatusOr<SendReport> r = rt.block_on(SendInChunks(&pair->server, &data));
  reader.join();
  ::close(reader_fd);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "the bytes arrived changed or out of order";
  EXPECT_GT(r->small_sends, 100);
  EXPECT_GT(r->large_sends, 100);
  if (Uring(rt)) {
    // One kernel send per small chunk at least (more where the kernel sent
    // part); the large chunks were written with write(2).
    EXPECT_GE(r->kernel_ops, static_cast<std::uint64_t>(r->small_sends));
    EXPECT_LT(r->kernel_ops, static_cast<std::uint64_t>(r->small_sends + r->large_sends) * 4);
  } else {
    EXPECT_EQ(r->kernel_ops, 0u);
  }
}

// A UnixStream over one end of a socketpair whose other end never reads,
// with small buffers so a send fills them at once.
struct StuckPeer {
  int ours = -1;
  int theirs = -1;
  static StuckPeer Make() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    return {sv[0], sv[1]};
  }
};

// Sends 8 KiB chunks (kernel sends on io_uring) until one fails.
Task<absl::Status> SendChunksForever(UnixStream* conn) {
  std::vector<std::byte> chunk(8 * 1024, std::byte{'x'});
  for (;;) {
    absl::Status s = co_await conn->send_all(chunk);
    if (!s.ok()) co_return s;
  }
}

Task<absl::Status> SendWithTimeout(int fd, absl::Duration limit) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  co_return co_await timeout(SendChunksForever(&conn), limit);
}

TEST_P(SendAllTest, TimeoutEndsASendToAPeerThatNeverReads) {
  Runtime rt(Options());
  const int baseline = CountOpenFds();
  StuckPeer p = StuckPeer::Make();
  const absl::Time start = absl::Now();
  absl::StatusOr<absl::Status> r = rt.block_on(SendWithTimeout(p.ours, absl::Milliseconds(50)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(*r)) << *r;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ::close(p.theirs);
  // The send's socket (owned by the finished task) is closed.
  EXPECT_EQ(CountOpenFds(), baseline);
}

Task<absl::Status> SendForever(int fd) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  co_return co_await SendChunksForever(&conn);
}

TEST_P(SendAllTest, CancelEndsASendToAPeerThatNeverReads) {
  Runtime rt(Options());
  const int baseline = CountOpenFds();
  StuckPeer p = StuckPeer::Make();
  JoinHandle<absl::Status> h = rt.spawn_on(0, SendForever(p.ours));
  absl::SleepFor(absl::Milliseconds(30));
  h.cancel();
  EXPECT_TRUE(absl::IsCancelled(h.BlockingJoin()));
  ::close(p.theirs);
  EXPECT_EQ(CountOpenFds(), baseline);
}

TEST_P(SendAllTest, ShutdownEndsASendToAPeerThatNeverReads) {
  StuckPeer p = StuckPeer::Make();
  auto rt = std::make_unique<Runtime>(Options());
  JoinHandle<absl::Status> h = rt->spawn(SendForever(p.ours));
  absl::SleepFor(absl::Milliseconds(30));
  const absl::Time start = absl::Now();
  rt->Shutdown(absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(absl::IsCancelled(h.BlockingJoin()));
  ::close(p.theirs);
}

// The peer resets the connection while the send waits for room.
Task<absl::Status> SendUntilError(int fd) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  std::vector<std::byte> chunk(4 * 1024, std::byte{'y'});
  for (int i = 0; i < 1000000; ++i) {
    absl::Status s = co_await conn.send_all(chunk);
    if (!s.ok()) co_return s;
  }
  co_return absl::InternalError("the send never failed");
}

TEST_P(SendAllTest, PeerGoingAwayGivesANamedSendError) {
  Runtime rt(Options());
  StuckPeer p = StuckPeer::Make();
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::close(p.theirs);
  });
  absl::StatusOr<absl::Status> r = rt.block_on(SendUntilError(p.ours));
  closer.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ok());
  EXPECT_TRUE(absl::StrContains(r->message(), "send(fd=")) << *r;
}

Task<absl::Status> SendOnClosed(int fd) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  conn.close();
  const std::byte one[1] = {std::byte{1}};
  co_return co_await conn.send_all(one);
}

TEST_P(SendAllTest, SendOnAClosedSocketFails) {
  Runtime rt(Options());
  StuckPeer p = StuckPeer::Make();
  absl::StatusOr<absl::Status> r = rt.block_on(SendOnClosed(p.ours));
  ::close(p.theirs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ok());
}

io_internal::KernelOpStats OpStats() {
  io_internal::KernelOpStats st;
  io_internal::CurrentCore()->backend()->GetKernelOpStats(&st);
  return st;
}

Task<absl::StatusOr<std::size_t>> ReadOneByte(File* f) {
  std::byte b[1];
  co_return co_await f->read_at(b, 0);
}

Task<absl::Status> SendFourBytes(UnixStream* conn) {
  const std::byte bytes[4] = {std::byte{'l'}, std::byte{'e'}, std::byte{'a'}, std::byte{'k'}};
  co_return co_await conn->send_all(bytes);
}

struct QueuedSendOutcome {
  absl::Status send;
  bool number_reused = false;  // the new socket took the closed one's fd
  ssize_t new_peer_got = -1;   // what the new socket's peer could read
};

// One op slot, held by a FIFO read that waits in the kernel. A send queued
// behind it loses its socket (closed by this task), and a new socket takes
// the fd number; then the slot frees. The queued send must end with an
// error, not start on the new socket.
Task<QueuedSendOutcome> CloseWhileASendWaitsForASlot(File* fifo, int fifo_writer) {
  QueuedSendOutcome out;
  JoinHandle<absl::StatusOr<std::size_t>> holder = spawn(ReadOneByte(fifo));
  while (OpStats().in_flight == 0) co_await yield_now();
  auto pair = UnixStream::Pair();
  if (!pair.ok()) co_return QueuedSendOutcome{pair.status()};
  UnixStream ours = std::move(pair->first);
  JoinHandle<absl::Status> sender = spawn(SendFourBytes(&ours));
  while (OpStats().queued == 0) co_await yield_now();
  const int old_fd = ours.async_fd().fd();
  ours.close();
  auto fresh = UnixStream::Pair();
  if (!fresh.ok()) co_return QueuedSendOutcome{fresh.status()};
  out.number_reused = fresh->first.async_fd().fd() == old_fd;
  const char x = 'x';
  if (::write(fifo_writer, &x, 1) != 1) co_return QueuedSendOutcome{absl::InternalError("fifo")};
  out.send = co_await sender;
  (void)co_await holder;
  char got[8];
  out.new_peer_got = ::recv(fresh->second.async_fd().fd(), got, sizeof(got), MSG_DONTWAIT);
  co_return out;
}

TEST_P(SendAllTest, ClosingASocketEndsASendQueuedForAnOpSlot) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam(), .kernel_op_slots = 1});
  if (!Uring(rt)) GTEST_SKIP() << "epoll sends with send(2): no op slots to wait for";
  const std::string fifo_path = ::testing::TempDir() + "/send_all_queued.fifo";
  ::unlink(fifo_path.c_str());
  ASSERT_EQ(::mkfifo(fifo_path.c_str(), 0600), 0);
  absl::StatusOr<File> fifo = File::open(fifo_path, O_RDWR);  // RDWR: open does not wait
  ASSERT_TRUE(fifo.ok()) << fifo.status();
  const int writer = ::open(fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  absl::StatusOr<QueuedSendOutcome> r =
      rt.block_on(CloseWhileASendWaitsForASlot(&*fifo, writer));
  ::close(writer);
  ::unlink(fifo_path.c_str());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->number_reused) << "the test needs the fd number taken again";
  EXPECT_TRUE(absl::IsCancelled(r->send)) << r->send;
  EXPECT_TRUE(absl::StrContains(r->send.message(), "send(fd=")) << r->send;
  EXPECT_EQ(r->new_peer_got, -1) << "the queued send reached the socket that took its number";
}

INSTANTIATE_TEST_SUITE_P(Backends, SendAllTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
