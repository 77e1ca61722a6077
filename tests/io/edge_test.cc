// The edges of the reactor, as users meet them: timeouts around reads and
// writes, a peer that half-closes and never reads, deadlines at the extremes
// of absl::Duration, fds where a short read does not mean "drained", readv
// past IOV_MAX, nested timeouts, shutdown across cores, and closing an fd
// while a task waits on it. Every test runs on both backends. Each of them
// failed (CHECK, hang, spin or wrong result) before the fix it covers.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/async_fd.h"
#include "io/internal/backend.h"
#include "io/channel.h"
#include "io/io_status.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using testing_io::AllBackends;
using testing_io::BackendName;
using testing_io::CountOpenFds;

class EdgeTest : public testing_io::BackendSuite<1> {};

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// CPU time (user + system) this process has used, in milliseconds.
double ProcessCpuMs() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

// --- timeout() around a read: the pattern io/timer.h teaches ---------------

// A task owns a stream, times out a read on it, and returns: the stream
// closes with the frame. This used to CHECK-fail ("closing fd N while a task
// waits on it"): timeout() returned while its spawned child still waited.
Task<absl::Status> TimedOutReadThenReturn(int rounds) {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  UnixStream conn = std::move(pair->first);
  std::byte buf[64];
  for (int i = 0; i < rounds; ++i) {  // retrying in a loop: one waiter at a time
    absl::StatusOr<size_t> n = co_await timeout(conn.read(buf), absl::Milliseconds(10));
    if (!absl::IsDeadlineExceeded(n.status())) {
      co_return absl::InternalError("expected DeadlineExceeded, got " + n.status().ToString());
    }
  }
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, TimedOutReadLeavesNothingBehindAndCanBeRetried) {
  Runtime rt(Options());
  const int fds = CountOpenFds();
  EXPECT_TRUE(rt.block_on(TimedOutReadThenReturn(5)).ok());
  EXPECT_EQ(CountOpenFds(), fds);
}

Task<absl::Status> TimedOutReadIntoInALoop() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  Pooled buf;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<size_t> n =
        co_await timeout(read_into(pair->first, buf), absl::Milliseconds(5));
    if (!absl::IsDeadlineExceeded(n.status())) co_return absl::InternalError("no timeout");
    if (buf.holds_memory()) co_return absl::InternalError("idle Pooled holds memory");
  }
  // And a read that completes inside its deadline still works afterwards.
  if (absl::Status s = co_await pair->second.write_all(Bytes("hello")); !s.ok()) co_return s;
  absl::StatusOr<size_t> n = co_await timeout(read_into(pair->first, buf), absl::Seconds(5));
  if (!n.ok()) co_return n.status();
  if (*n != 5) co_return absl::InternalError("short read");
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, ReadIntoUnderTimeoutNeedsNoSpawnAndRetries) {
  Runtime rt(Options());
  EXPECT_TRUE(rt.block_on(TimedOutReadIntoInALoop()).ok());
}

// A Channel local to the frame: the timed-out receive must not touch it after
// the frame is gone (it used to, from the still-running child).
Task<absl::Status> ChannelLocalToTheFrame() {
  for (int i = 0; i < 20; ++i) {
    Channel<int> ch;
    absl::StatusOr<int> v = co_await timeout(ch.receive(), absl::Microseconds(200));
    if (!absl::IsDeadlineExceeded(v.status())) co_return absl::InternalError("no timeout");
  }
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, TimedOutReceiveOnAFrameLocalChannel) {
  Runtime rt(Options());
  EXPECT_TRUE(rt.block_on(ChannelLocalToTheFrame()).ok());
}

// Cancelling a task that sits inside timeout() destroys what timeout() is
// running, at once: its guard's destructor has run when cancel() returns.
Task<int> Forever(std::atomic<bool>* destroyed) {
  struct Guard {
    std::atomic<bool>* f;
    ~Guard() { f->store(true); }
  } guard{destroyed};
  co_await sleep_for(absl::InfiniteDuration());
  co_return 1;
}

Task<absl::StatusOr<int>> SitsInTimeout(std::atomic<bool>* destroyed) {
  co_return co_await timeout(Forever(destroyed), absl::Hours(1));
}

Task<absl::Status> CancelSameCore(std::atomic<bool>* destroyed) {
  JoinHandle<absl::StatusOr<int>> h = spawn(SitsInTimeout(destroyed));
  co_await yield_now();  // let it reach its suspension point
  h.cancel();
  if (!destroyed->load()) co_return absl::InternalError("not destroyed when cancel() returned");
  absl::StatusOr<int> r = co_await h;
  if (!absl::IsCancelled(r.status())) co_return absl::InternalError(r.status().ToString());
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, CancellingATaskInsideTimeoutDestroysItsChildSynchronously) {
  Runtime rt(Options());
  std::atomic<bool> destroyed{false};
  EXPECT_TRUE(rt.block_on(CancelSameCore(&destroyed)).ok());
  EXPECT_TRUE(destroyed.load());
}

TEST_P(EdgeTest, CancellingFromAnotherCoreReturnsOnlyOnceTheChildIsGone) {
  Runtime rt(Options(2));
  std::atomic<bool> destroyed{false};
  JoinHandle<absl::StatusOr<int>> h = rt.spawn_on(1, SitsInTimeout(&destroyed));
  absl::SleepFor(absl::Milliseconds(20));
  h.cancel();
  absl::StatusOr<int> r = h.BlockingJoin();
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  EXPECT_TRUE(destroyed.load());
}

// --- A peer that half-closes and never reads --------------------------------

struct HalfCloseReport {
  absl::Status write;          // the write_all's outcome
  std::int64_t max_late_ns;    // how late a 5 ms ticker on the same core ran
  int ticks;
};

Task<void> Ticker(std::atomic<bool>* stop, std::int64_t* max_late, int* ticks) {
  while (!stop->load()) {
    const std::int64_t due = BootClock::now().time_since_epoch().count() + 5'000'000;
    co_await sleep_for(absl::Milliseconds(5));
    const std::int64_t late = BootClock::now().time_since_epoch().count() - due;
    if (late > *max_late) *max_late = late;
    ++*ticks;
  }
}

// The server reads to EOF (the peer shut down its writing side), then writes
// 16 MiB that the peer never reads. The write must wait, not spin: the
// core's timers keep firing and timeout() ends it. `big` is the caller's, so
// filling it is not counted in the CPU the write uses.
Task<HalfCloseReport> WriteToAHalfClosedPeer(int peer_fd, std::span<const std::byte> big) {
  HalfCloseReport report{absl::OkStatus(), 0, 0};
  UnixStream conn(AsyncFd::StreamFd(peer_fd));
  std::byte buf[4096];
  for (;;) {
    absl::StatusOr<size_t> n = co_await conn.read(buf);
    if (!n.ok()) {
      report.write = n.status();
      co_return report;
    }
    if (*n == 0) break;  // EOF: the peer half-closed
  }
  std::atomic<bool> stop{false};
  JoinHandle<void> ticker = spawn(Ticker(&stop, &report.max_late_ns, &report.ticks));
  report.write = co_await timeout(conn.write_all(big), absl::Milliseconds(300));
  stop.store(true);
  (void)co_await ticker;
  co_return report;
}

TEST_P(EdgeTest, WritingToAHalfClosedPeerThatNeverReadsWaitsInsteadOfSpinning) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  int small = 4096;  // a small window fills fast
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_EQ(::write(sv[1], "hello", 5), 5);
  ASSERT_EQ(::shutdown(sv[1], SHUT_WR), 0);  // half-close; sv[1] never reads
  Runtime rt(Options());
  // Filled here, outside the measured span: filling 16 MiB under TSan takes
  // longer than the whole budget below.
  const std::vector<std::byte> big(16 << 20, std::byte{'x'});
  const double cpu_before = ProcessCpuMs();
  absl::StatusOr<HalfCloseReport> r = rt.block_on(WriteToAHalfClosedPeer(sv[0], big));
  const double cpu_ms = ProcessCpuMs() - cpu_before;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(r->write)) << r->write;
  // The core slept while the write waited: the ticker ran on time, and the
  // process used a fraction of the 300 ms (it used all of it, spinning).
  EXPECT_GT(r->ticks, 10);
  EXPECT_LT(r->max_late_ns, 100'000'000);
  EXPECT_LT(cpu_ms, 200.0);
  ::close(sv[1]);
}

// Shutdown with a task stuck writing to such a peer returns within its grace.
Task<absl::Status> WriteForever(int fd) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  std::vector<std::byte> big(16 << 20, std::byte{'x'});
  co_return co_await conn.write_all(big);
}

TEST_P(EdgeTest, ShutdownEndsAWriteToAPeerThatNeverReads) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(::shutdown(sv[1], SHUT_WR), 0);
  auto rt = std::make_unique<Runtime>(Options());
  JoinHandle<absl::Status> h = rt->spawn(WriteForever(sv[0]));
  absl::SleepFor(absl::Milliseconds(30));
  const absl::Time start = absl::Now();
  rt->Shutdown(absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(absl::IsCancelled(h.BlockingJoin()));
  ::close(sv[1]);
}

// --- Deadlines at the extremes (run under UBSan in the asan config) --------

Task<absl::Status> DeadlineExtremes() {
  // Infinite: never fires by itself. (A void awaitable yields absl::Status.)
  absl::Status slept = co_await timeout(sleep_for(absl::InfiniteDuration()), absl::Milliseconds(20));
  if (!absl::IsDeadlineExceeded(slept)) co_return absl::InternalError("infinite sleep ended: " + slept.ToString());
  slept = co_await timeout(sleep_for(absl::Milliseconds(1)), absl::InfiniteDuration());
  if (!slept.ok()) co_return absl::InternalError("infinite timeout fired: " + slept.ToString());
  // Huge but finite durations saturate instead of wrapping into the past.
  for (absl::Duration d : {absl::Nanoseconds(std::numeric_limits<int64_t>::max()),
                           absl::Seconds(std::numeric_limits<int64_t>::max()),
                           absl::Hours(1e12)}) {
    slept = co_await timeout(sleep_for(d), absl::Milliseconds(5));
    if (!absl::IsDeadlineExceeded(slept)) co_return absl::InternalError("huge sleep ended at once");
    slept = co_await timeout(sleep_for(absl::Milliseconds(1)), d);
    if (!slept.ok()) co_return absl::InternalError("huge timeout fired at once");
  }
  // Zero and negative: now. The awaitable still gets its one try.
  for (absl::Duration d : {absl::ZeroDuration(), -absl::Seconds(1), -absl::InfiniteDuration(),
                           absl::Nanoseconds(std::numeric_limits<int64_t>::min())}) {
    co_await sleep_for(d);  // no suspension
    slept = co_await timeout(sleep_for(absl::Seconds(10)), d);
    if (!absl::IsDeadlineExceeded(slept)) co_return absl::InternalError("non-positive timeout waited");
    slept = co_await timeout(sleep_for(-absl::Seconds(1)), d);
    if (!slept.ok()) co_return absl::InternalError("a ready awaitable timed out");
  }
  co_await sleep_until(BootClock::time_point::min());
  slept = co_await timeout(sleep_until(BootClock::time_point::max()), absl::Milliseconds(5));
  if (!absl::IsDeadlineExceeded(slept)) co_return absl::InternalError("sleep_until(max) ended");
  slept = co_await timeout_at(sleep_for(absl::Milliseconds(1)), BootClock::time_point::max());
  if (!slept.ok()) co_return absl::InternalError("timeout_at(max) fired");
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, DeadlinesSaturateAtTheExtremes) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(DeadlineExtremes());
  EXPECT_TRUE(s.ok()) << s;
}

Task<int> FinishesAfter(absl::Duration d) {
  co_await sleep_for(d);
  co_return 7;
}

TEST_P(EdgeTest, ShutdownWithInfiniteGraceWaitsForTasks) {
  auto rt = std::make_unique<Runtime>(Options());
  JoinHandle<int> h = rt->spawn(FinishesAfter(absl::Milliseconds(30)));
  rt->Shutdown(absl::InfiniteDuration());
  absl::StatusOr<int> r = h.BlockingJoin();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 7);
}

TEST_P(EdgeTest, ShutdownWithNegativeGraceCancelsAtOnce) {
  auto rt = std::make_unique<Runtime>(Options());
  JoinHandle<int> h = rt->spawn(FinishesAfter(absl::Hours(1)));
  const absl::Time start = absl::Now();
  rt->Shutdown(-absl::InfiniteDuration());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(absl::IsCancelled(h.BlockingJoin().status()));
}

// --- Short reads that do not mean "drained" ---------------------------------

// Two messages queued on a message-oriented socket: the first read is short
// (one message), and the second must come without a new edge.
Task<absl::Status> ReadTwoMessages(int fd) {
  AsyncFd afd(fd);
  Uninit buf(1024);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<size_t> n = co_await timeout(read_into(afd, buf), absl::Seconds(2));
    if (!n.ok()) co_return absl::InternalError("message " + std::to_string(i) + ": " + n.status().ToString());
    if (*n != 10) co_return absl::InternalError("message size " + std::to_string(*n));
    buf.clear();
  }
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, MessageSocketsAreReadUntilEagain) {
  for (int type : {SOCK_SEQPACKET, SOCK_DGRAM}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_EQ(::write(sv[1], "0123456789", 10), 10);
    ASSERT_EQ(::write(sv[1], "abcdefghij", 10), 10);
    Runtime rt(Options());
    absl::Status s = rt.block_on(ReadTwoMessages(sv[0]));
    EXPECT_TRUE(s.ok()) << (type == SOCK_DGRAM ? "SOCK_DGRAM: " : "SOCK_SEQPACKET: ") << s;
    ::close(sv[1]);
  }
}

// readv with more iovecs than one call takes: a read that fills the first
// IOV_MAX of them is not short, so the rest must be read without a new edge.
Task<absl::Status> ReadvPastIovMax(int fd) {
  UnixStream conn(AsyncFd::StreamFd(fd));
  constexpr size_t kIovecs = IOV_MAX + 100;
  std::vector<std::byte> storage(kIovecs);
  std::vector<iovec> iov(kIovecs);
  for (size_t i = 0; i < kIovecs; ++i) iov[i] = iovec{&storage[i], 1};
  absl::StatusOr<size_t> first = co_await timeout(conn.readv(iov), absl::Seconds(2));
  if (!first.ok()) co_return first.status();
  if (*first != IOV_MAX) co_return absl::InternalError("first readv " + std::to_string(*first));
  absl::StatusOr<size_t> second = co_await timeout(conn.readv(iov), absl::Seconds(2));
  if (!second.ok()) co_return absl::InternalError("second readv: " + second.status().ToString());
  if (*second != 50) co_return absl::InternalError("second readv " + std::to_string(*second));
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, ReadvPastIovMaxDoesNotStall) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  std::vector<char> data(IOV_MAX + 50, 'z');
  ASSERT_EQ(::write(sv[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  Runtime rt(Options());
  absl::Status s = rt.block_on(ReadvPastIovMax(sv[0]));
  EXPECT_TRUE(s.ok()) << s;
  ::close(sv[1]);
}

// --- Nested timeouts --------------------------------------------------------

Task<absl::Status> InnerTimesOut() {
  co_return co_await timeout(sleep_for(absl::Seconds(10)), absl::Milliseconds(5));
}

Task<absl::Status> NestedTimeouts() {
  // Through a task: the inner DeadlineExceeded is the outer's result.
  absl::Status r = co_await timeout(InnerTimesOut(), absl::Seconds(10));
  if (!absl::IsDeadlineExceeded(r)) co_return absl::InternalError("through a task: " + r.ToString());
  // Directly nested, inner deadline first.
  r = co_await timeout(timeout(sleep_for(absl::Seconds(10)), absl::Milliseconds(5)),
                       absl::Seconds(10));
  if (!absl::IsDeadlineExceeded(r)) co_return absl::InternalError("nested: " + r.ToString());
  // Outer deadline first: the outer reports it, the inner is destroyed.
  r = co_await timeout(timeout(sleep_for(absl::Seconds(10)), absl::Seconds(10)),
                       absl::Milliseconds(5));
  if (!absl::IsDeadlineExceeded(r)) co_return absl::InternalError("outer: " + r.ToString());
  // Neither fires.
  r = co_await timeout(timeout(sleep_for(absl::Milliseconds(1)), absl::Seconds(10)),
                       absl::Seconds(10));
  if (!r.ok()) co_return absl::InternalError("none: " + r.ToString());
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, NestedTimeoutsEachReportTheirOwnDeadline) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(NestedTimeouts());
  EXPECT_TRUE(s.ok()) << s;
}

// --- A completion routed through the run queue wins its timeout ----------

Task<int> Immediate(int i) { co_return i; }

// `depth` Tasks that complete at once, then a receive of a value already
// queued: no suspension at all, but past 128 transfers in a row the final
// transfer back to the caller goes through the run queue.
Task<absl::StatusOr<int>> SyncChainThenReceive(Channel<int>* ch, int depth) {
  int sum = 0;
  for (int i = 0; i < depth; ++i) sum += co_await Immediate(1);
  absl::StatusOr<int> v = co_await ch->receive();
  if (!v.ok()) co_return v.status();
  co_return *v + sum - depth;
}

// Ends the timeout `*waiting` points at, if the main task is still in it
// when this task gets its turn.
Task<void> ExpireIfWaiting(io_internal::TimeoutAwaiter<Task<absl::StatusOr<int>>>** waiting) {
  if (*waiting != nullptr) (*waiting)->expire_now();
  co_return;
}

Task<absl::Status> TimeoutNeverLosesAReceivedValue() {
  for (int depth = 0; depth < 400; ++depth) {
    Channel<int> ch;
    if (absl::Status s = ch.send(depth); !s.ok()) co_return s;
    auto t = timeout(SyncChainThenReceive(&ch, depth), absl::InfiniteDuration());
    io_internal::TimeoutAwaiter<Task<absl::StatusOr<int>>>* waiting = &t;
    // Queued first, so it runs before a transfer that is routed through the
    // run queue: it expires the timeout in that window.
    JoinHandle<void> expirer = spawn(ExpireIfWaiting(&waiting));
    absl::StatusOr<int> r = co_await t;
    waiting = nullptr;
    if (absl::Status s = co_await expirer; !s.ok()) co_return s;
    if (r.ok()) {
      if (*r != depth) co_return absl::InternalError(absl::StrCat("depth ", depth, ": wrong value"));
    } else if (!absl::IsDeadlineExceeded(r.status())) {
      co_return absl::InternalError(absl::StrCat("depth ", depth, ": ", r.status().ToString()));
    } else if (!ch.try_receive().has_value()) {
      co_return absl::InternalError(absl::StrCat(
          "depth ", depth, ": timed out after the value was received; the value is lost"));
    }
  }
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, ACompletionRoutedThroughTheRunQueueWinsItsTimeout) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(TimeoutNeverLosesAReceivedValue());
  EXPECT_TRUE(s.ok()) << s;
}

// --- Shutdown across cores --------------------------------------------------

Task<int> SleepsThenReturns() {
  co_await sleep_for(absl::Milliseconds(50));
  co_return 3;
}

Task<absl::StatusOr<int>> AwaitsAnotherCore(JoinHandle<int>* h) { co_return co_await *h; }

// A core-1 task awaits a core-0 task that finishes during shutdown: the
// wake-up core 0 queues in its last loop iteration must reach core 1 (it used
// to stay in core 0's submission queue, and Shutdown took the whole grace).
TEST_P(EdgeTest, ShutdownDeliversTheLastCrossCoreWakeups) {
  auto rt = std::make_unique<Runtime>(Options(2));
  JoinHandle<int> sleeper = rt->spawn_on(0, SleepsThenReturns());
  JoinHandle<absl::StatusOr<int>> waiter = rt->spawn_on(1, AwaitsAnotherCore(&sleeper));
  const absl::Time start = absl::Now();
  rt->Shutdown(absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  absl::StatusOr<absl::StatusOr<int>> r = waiter.BlockingJoin();
  ASSERT_TRUE(r.ok()) << r.status();
}

// --- Closing an fd while a task waits on it ---------------------------------

enum class WaitKind { kRead, kReadInto, kPooledRead, kReady, kWrite, kAccept };

Task<void> CloseLater(TcpStream* s, TcpListener* l, bool close_listener) {
  co_await sleep_for(absl::Milliseconds(20));
  if (close_listener) {
    l->close();
  } else {
    s->close();
  }
}

Task<absl::Status> WaitThenSeeItClosed(WaitKind kind) {
  absl::StatusOr<TcpListener> listener = TcpListener::bind(testing_io::Loopback());
  if (!listener.ok()) co_return listener.status();
  absl::StatusOr<testing_io::ConnectedPair> pair = co_await testing_io::Connect(&*listener);
  if (!pair.ok()) co_return pair.status();
  TcpStream& conn = pair->server;
  // Another task closes the waited-on socket after 20 ms.
  JoinHandle<void> closer = spawn(CloseLater(&conn, &*listener, kind == WaitKind::kAccept));
  absl::Status result;
  std::byte buf[16];
  switch (kind) {
    case WaitKind::kRead:
      result = (co_await conn.read(buf)).status();
      break;
    case WaitKind::kReadInto: {
      Uninit b(64);
      result = (co_await read_into(conn, b)).status();
      break;
    }
    case WaitKind::kPooledRead:
      result = (co_await pooled_read(conn)).status();
      break;
    case WaitKind::kReady: {
      Uninit b(64);  // learn that nothing is there, so ready() has to wait
      if (!IsWouldBlock(conn.try_read(b).status())) co_return absl::InternalError("data?");
      result = co_await conn.ready();
      if (result.ok()) result = absl::InternalError("ready() without data");
      break;
    }
    case WaitKind::kWrite: {
      int small = 4096;
      ::setsockopt(conn.async_fd().fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
      std::vector<std::byte> big(8 << 20, std::byte{1});
      result = co_await conn.write_all(big);
      break;
    }
    case WaitKind::kAccept:
      result = (co_await listener->accept()).status();
      break;
  }
  const absl::Status closed = co_await closer;
  EXPECT_TRUE(closed.ok()) << closed;
  co_return result;
}

TEST_P(EdgeTest, ClosingAnFdWakesItsWaiterWithAnError) {
  for (WaitKind kind : {WaitKind::kRead, WaitKind::kReadInto, WaitKind::kPooledRead,
                        WaitKind::kReady, WaitKind::kWrite, WaitKind::kAccept}) {
    Runtime rt(Options());
    const int fds = CountOpenFds();
    absl::Status s = rt.block_on(WaitThenSeeItClosed(kind));
    EXPECT_TRUE(absl::IsCancelled(s)) << static_cast<int>(kind) << ": " << s;
    EXPECT_NE(s.message().find("closed"), absl::string_view::npos) << s;
    EXPECT_EQ(CountOpenFds(), fds) << static_cast<int>(kind);
  }
}

// --- io_uring: a full submission queue, and submits the kernel refuses -----

// One task registers 1,500 fds without suspending: more poll SQEs than the
// submission queue holds (1,024), so the ring flushes in the middle of the
// iteration, and the first three of those submits fail with EBUSY (then
// EAGAIN), as a CQ overflow would make them. Every fd must still be watched.
Task<absl::Status> RegisterManyWhileSubmitsFail(int err) {
  io_internal::InjectSubmitFailuresForTesting(3, err);
  constexpr int kPairs = 750;
  std::vector<UnixStream> ends;
  std::vector<UnixStream> peers;
  for (int i = 0; i < kPairs; ++i) {
    absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
    if (!p.ok()) co_return p.status();
    for (UnixStream* s : {&p->first, &p->second}) {
      if (absl::Status r = io_internal::RegisterOnThisCore(
              io_internal::AsyncFdAccess::State(s->async_fd()));
          !r.ok()) {
        co_return r;
      }
    }
    ends.push_back(std::move(p->first));
    peers.push_back(std::move(p->second));
  }
  if (io_internal::InjectedSubmitFailuresLeftForTesting() != 0) {
    co_return absl::InternalError("the submission queue never filled");
  }
  // Every registration reached the kernel: each end sees its peer's byte.
  for (int i = 0; i < kPairs; ++i) {
    if (absl::Status s = co_await peers[i].write_all(Bytes("x")); !s.ok()) co_return s;
  }
  for (int i = 0; i < kPairs; ++i) {
    Uninit b(8);
    (void)ends[i].try_read(b);  // drain, then wait for the next byte
    if (absl::Status s = co_await peers[i].write_all(Bytes("y")); !s.ok()) co_return s;
    absl::StatusOr<size_t> n = co_await timeout(read_into(ends[i], b), absl::Seconds(2));
    if (!n.ok()) co_return absl::InternalError(absl::StrCat("fd pair ", i, ": ", n.status().ToString()));
  }
  co_return absl::OkStatus();
}

TEST_P(EdgeTest, UringSurvivesAFullSubmissionQueueAndRefusedSubmits) {
  Runtime rt(Options());
  if (rt.backend_name() != std::string("io_uring")) GTEST_SKIP() << "io_uring only";
  for (int err : {EBUSY, EAGAIN}) {
    absl::Status s = rt.block_on(RegisterManyWhileSubmitsFail(err));
    EXPECT_TRUE(s.ok()) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, EdgeTest, ::testing::ValuesIn(AllBackends()), BackendName);

}  // namespace
}  // namespace readbuf
