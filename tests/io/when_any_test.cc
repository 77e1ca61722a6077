// when_any (io/when_any.h): the first awaitable to finish wins, the others
// are destroyed in place before co_await returns; on both backends.

#include <atomic>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/pooled.h"
#include "gtest/gtest.h"
#include "io/channel.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/when_any.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class WhenAnyTest : public testing_io::BackendSuite<1> {};

struct Flag {
  std::atomic<bool>* f;
  ~Flag() { f->store(true); }
};

Task<int> SleepThen(absl::Duration d, int v, std::atomic<bool>* destroyed) {
  Flag guard{destroyed};
  co_await sleep_for(d);
  co_return v;
}

Task<absl::Status> FasterWinsAndTheLoserIsGone() {
  std::atomic<bool> slow_gone{false}, fast_gone{false};
  std::variant<int, int> r = co_await when_any(SleepThen(absl::Seconds(30), 1, &slow_gone),
                                               SleepThen(absl::Milliseconds(5), 2, &fast_gone));
  if (r.index() != 1 || std::get<1>(r) != 2) co_return absl::InternalError("wrong winner");
  if (!slow_gone.load()) co_return absl::InternalError("the loser was not destroyed");
  co_return absl::OkStatus();
}

TEST_P(WhenAnyTest, FasterWinsAndTheLoserIsDestroyedBeforeItReturns) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(FasterWinsAndTheLoserIsGone());
  EXPECT_TRUE(s.ok()) << s;
}

Task<int> Immediate(int v) { co_return v; }

Task<absl::Status> ReadyAtOnceWinsAndLaterOnesDoNotStart() {
  std::atomic<bool> later_gone{false};
  // A Task that finishes without suspending wins; the one after it never
  // runs (its guard is destroyed with its unstarted frame).
  std::variant<int, int> r =
      co_await when_any(Immediate(7), SleepThen(absl::Seconds(30), 1, &later_gone));
  if (r.index() != 0 || std::get<0>(r) != 7) co_return absl::InternalError("wrong winner");
  // Ready awaiters are checked before anything starts.
  std::variant<std::monostate, int> s =
      co_await when_any(sleep_for(-absl::Seconds(1)), Immediate(3));
  if (s.index() != 0) co_return absl::InternalError("a ready sleep should win");
  co_return absl::OkStatus();
}

TEST_P(WhenAnyTest, ReadyAtOnceWinsInOrder) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(ReadyAtOnceWinsAndLaterOnesDoNotStart());
  EXPECT_TRUE(s.ok()) << s;
}

// A read races a shutdown message: the read loses, reads nothing, and the
// connection is usable afterwards.
Task<absl::Status> ReadRacesAChannel() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
  if (!p.ok()) co_return p.status();
  Channel<int> stop;
  (void)stop.send(42);
  Pooled buf;
  auto r = co_await when_any(read_into(p->first, buf), stop.receive());
  if (r.index() != 1 || *std::get<1>(r) != 42) co_return absl::InternalError("the message should win");
  if (buf.holds_memory()) co_return absl::InternalError("the cancelled read holds memory");
  if (absl::Status s = co_await p->second.write_all(std::as_bytes(std::span("hi", 2))); !s.ok()) {
    co_return s;
  }
  absl::StatusOr<size_t> n = co_await timeout(read_into(p->first, buf), absl::Seconds(2));
  if (!n.ok() || *n != 2) co_return absl::InternalError("the stream is not usable after losing");
  co_return absl::OkStatus();
}

TEST_P(WhenAnyTest, ALosingReadReadsNothing) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(ReadRacesAChannel());
  EXPECT_TRUE(s.ok()) << s;
}

// Woken from another core: the winner's wake-up crosses cores.
Task<absl::Status> CrossCoreWinner(Channel<int>* ch) {
  std::atomic<bool> gone{false};
  auto r = co_await when_any(SleepThen(absl::Seconds(30), 1, &gone), ch->receive());
  if (r.index() != 1 || *std::get<1>(r) != 5) co_return absl::InternalError("wrong winner");
  if (!gone.load()) co_return absl::InternalError("loser alive");
  co_return absl::OkStatus();
}

Task<void> SendLater(Channel<int>* ch) {
  co_await sleep_for(absl::Milliseconds(10));
  (void)ch->send(5);
}

TEST_P(WhenAnyTest, AWinnerWokenFromAnotherCore) {
  Runtime rt(Options(2));
  Channel<int> ch;
  JoinHandle<absl::Status> h = rt.spawn_on(0, CrossCoreWinner(&ch));
  JoinHandle<void> s = rt.spawn_on(1, SendLater(&ch));
  EXPECT_TRUE(h.BlockingJoin().ok());
  EXPECT_TRUE(s.BlockingJoin().ok());
}

Task<absl::Status> RacesForever(std::atomic<bool>* a, std::atomic<bool>* b) {
  (void)co_await when_any(SleepThen(absl::Hours(1), 1, a), SleepThen(absl::Hours(1), 2, b));
  co_return absl::OkStatus();
}

Task<absl::Status> CancelTheRacer() {
  std::atomic<bool> a{false}, b{false};
  JoinHandle<absl::Status> h = spawn(RacesForever(&a, &b));
  co_await yield_now();
  h.cancel();
  if (!a.load() || !b.load()) co_return absl::InternalError("branches alive after cancel()");
  absl::Status r = co_await h;
  if (!absl::IsCancelled(r)) co_return absl::InternalError(r.ToString());
  co_return absl::OkStatus();
}

TEST_P(WhenAnyTest, CancellingTheAwaitingTaskDestroysEveryBranch) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(CancelTheRacer());
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> NestedWithTimeouts() {
  std::atomic<bool> g1{false}, g2{false};
  // A timeout inside a branch, and when_any inside a timeout.
  auto r = co_await when_any(timeout(SleepThen(absl::Hours(1), 1, &g1), absl::Milliseconds(5)),
                             SleepThen(absl::Hours(1), 2, &g2));
  if (r.index() != 0 || !absl::IsDeadlineExceeded(std::get<0>(r).status())) {
    co_return absl::InternalError("the timed-out branch should win");
  }
  std::atomic<bool> g3{false}, g4{false};
  auto t = co_await timeout(when_any(SleepThen(absl::Hours(1), 1, &g3),
                                     SleepThen(absl::Hours(1), 2, &g4)),
                            absl::Milliseconds(5));
  if (!absl::IsDeadlineExceeded(t.status()) || !g3.load() || !g4.load()) {
    co_return absl::InternalError("the timeout should destroy both branches");
  }
  co_return absl::OkStatus();
}

TEST_P(WhenAnyTest, NestsWithTimeout) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(NestedWithTimeouts());
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, WhenAnyTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
