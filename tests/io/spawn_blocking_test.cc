// Tests for spawn_blocking (io/spawn_blocking.h) and what is built on it,
// SocketAddress::Resolve and TcpStream::connect("host:port"), on every
// backend: results and void, a core that stays responsive under 200 blocking
// calls, the pool's bound, FIFO order and idle exit, cancellation and
// timeout while a call runs (its result dropped, nothing leaked), and
// Runtime shutdown with calls still running. Timing bounds are generous: the
// machine is shared and noisy.

#include "io/spawn_blocking.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

using ::testing::HasSubstr;

// Counts live instances, so a test can see that a dropped result was
// destroyed.
struct Tracked {
  static std::atomic<int> live;
  explicit Tracked(int v) : value(v) { live.fetch_add(1); }
  ~Tracked() { live.fetch_sub(1); }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  int value;
};
std::atomic<int> Tracked::live{0};

// Polls `cond` from a plain thread until it holds or `limit` passes.
template <class F>
bool Eventually(F cond, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (!cond()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// A blocking function's gate, shared by value so it outlives any frame.
struct Gate {
  std::atomic<bool> entered{false};
  std::atomic<bool> open{false};
  std::atomic<bool> left{false};
  // Blocks the pool thread until opened (at most 30 s, so a broken test
  // cannot hang the suite).
  void Pass() {
    entered.store(true);
    const absl::Time end = absl::Now() + absl::Seconds(30);
    while (!open.load() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
  }
};

// A gated call whose result is a Tracked; sets `left` once it has made it.
auto GatedCall(std::shared_ptr<Gate> g, int v) {
  return [g, v] {
    g->Pass();
    auto r = std::make_unique<Tracked>(v);
    g->left.store(true);
    return r;
  };
}

class SpawnBlockingTest : public testing_io::BackendSuite<2> {
 protected:
  void SetUp() override { Tracked::live.store(0); }
};

// --- Results ---------------------------------------------------------------

Task<absl::Status> AllResultKinds(int core) {
  // A value, computed off the cores; resumed on the calling core.
  absl::StatusOr<std::pair<int, int>> v =
      co_await spawn_blocking([] { return std::make_pair(42, current_core()); });
  EXPECT_EQ(current_core(), core);
  EXPECT_TRUE(v.ok());
  if (v.ok()) {
    EXPECT_EQ(v->first, 42);
    EXPECT_EQ(v->second, -1) << "fn ran on a reactor core";
  }
  // void. (A lambda with captures is kept out of the co_await expression:
  // GCC 12 destroys the captures of a lambda-expression written inside a
  // co_await operand twice. See io/spawn_blocking.h.)
  auto ran = std::make_shared<std::atomic<bool>>(false);
  BlockingHandle<void> hv = spawn_blocking([ran] { ran->store(true); });
  absl::Status s = co_await std::move(hv);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(ran->load());
  EXPECT_EQ(current_core(), core);
  // absl::Status and StatusOr keep their type.
  absl::Status err =
      co_await spawn_blocking([] { return absl::InternalError("from the pool"); });
  EXPECT_EQ(err.code(), absl::StatusCode::kInternal);
  absl::StatusOr<std::string> text =
      co_await spawn_blocking([]() -> absl::StatusOr<std::string> { return std::string("hi"); });
  EXPECT_EQ(text.value_or(""), "hi");
  // A move-only result, and a move-only function.
  auto in = std::make_unique<int>(7);
  BlockingHandle<std::unique_ptr<int>> hm =
      spawn_blocking([p = std::move(in)]() mutable { return std::move(p); });
  absl::StatusOr<std::unique_ptr<int>> moved = co_await std::move(hm);
  EXPECT_TRUE(moved.ok() && *moved != nullptr && **moved == 7);
  // Arguments passed separately are moved into the call.
  absl::StatusOr<std::size_t> len = co_await spawn_blocking(
      [](std::string a, std::unique_ptr<int> b) { return a.size() + static_cast<std::size_t>(*b); },
      std::string("four"), std::make_unique<int>(3));
  EXPECT_EQ(len.value_or(0), 7u);
  // Already finished when awaited: no suspension needed.
  BlockingHandle<int> h = spawn_blocking([] { return 5; });
  while (!h.done()) co_await sleep_for(absl::Milliseconds(1));
  absl::StatusOr<int> five = co_await h;
  EXPECT_EQ(five.value_or(0), 5);
  absl::StatusOr<int> again = co_await h;
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  co_return absl::OkStatus();
}

TEST_P(SpawnBlockingTest, ReturnsEveryKindOfResultOnTheCallingCore) {
  Runtime rt(Options());
  for (int core = 0; core < rt.n_cores(); ++core) {
    EXPECT_TRUE(rt.spawn_on(core, AllResultKinds(core)).BlockingJoin().ok());
  }
}

// --- Many calls, a responsive core ----------------------------------------

struct Concurrency {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void Enter() {
    int n = now.fetch_add(1) + 1;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
  }
  void Leave() { now.fetch_sub(1); }
};

// Sleeps 2 ms at a time until told to stop; records the worst lateness.
Task<void> Ticker(std::atomic<bool>* stop, absl::Duration* worst, int* ticks) {
  while (!stop->load()) {
    const absl::Time before = absl::Now();
    co_await sleep_for(absl::Milliseconds(2));
    *worst = std::max(*worst, absl::Now() - before - absl::Milliseconds(2));
    ++*ticks;
  }
}

struct ManyResult {
  int ok = 0;
  absl::Duration elapsed;
  io_internal::BlockingPoolStats stats;
};

Task<ManyResult> ManyCalls(int n, std::shared_ptr<Concurrency> c) {
  ManyResult r;
  const absl::Time start = absl::Now();
  std::vector<BlockingHandle<int>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(spawn_blocking([c, i] {
      c->Enter();
      ::usleep(20'000);
      c->Leave();
      return i;
    }));
  }
  r.stats = blocking_pool_stats();
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<int> v = co_await hs[i];
    if (v.ok() && *v == i) ++r.ok;
  }
  r.elapsed = absl::Now() - start;
  co_return r;
}

TEST_P(SpawnBlockingTest, TwoHundredCallsOnAPoolOf64LeaveTheCoreResponsive) {
  Runtime rt(Options());  // blocking_threads: 64 by default
  std::atomic<bool> stop{false};
  absl::Duration worst = absl::ZeroDuration();
  int ticks = 0;
  JoinHandle<void> ticker = rt.spawn_on(0, Ticker(&stop, &worst, &ticks));
  auto c = std::make_shared<Concurrency>();
  absl::StatusOr<ManyResult> r = rt.spawn_on(0, ManyCalls(200, c)).BlockingJoin();
  stop.store(true);
  ASSERT_TRUE(ticker.BlockingJoin().ok());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ok, 200);
  EXPECT_LE(c->max.load(), 64) << "the pool ran more calls at once than its bound";
  EXPECT_GE(c->max.load(), 2) << "the calls did not overlap at all";
  EXPECT_LE(r->stats.threads, 64);
  // Some thread ran at least ceil(200 / 64) = 4 calls of 20 ms one after
  // another.
  EXPECT_GE(r->elapsed, absl::Milliseconds(79));
  EXPECT_GT(ticks, 0);
  // The core kept serving its timer while the 200 calls were in flight.
  EXPECT_LT(worst, absl::Milliseconds(100)) << "the core was blocked";
  std::printf("200 x 20 ms calls: %s, at most %d at once, worst timer lateness %s, %d ticks\n",
              absl::FormatDuration(r->elapsed).c_str(), c->max.load(),
              absl::FormatDuration(worst).c_str(), ticks);
}

// --- FIFO and idle exit -----------------------------------------------------

Task<std::vector<int>> InOrder(int n) {
  auto mu = std::make_shared<std::mutex>();
  auto order = std::make_shared<std::vector<int>>();
  std::vector<BlockingHandle<void>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(spawn_blocking([mu, order, i] {
      std::lock_guard<std::mutex> l(*mu);
      order->push_back(i);
    }));
  }
  for (auto& h : hs) EXPECT_TRUE((co_await h).ok());
  co_return *order;
}

TEST_P(SpawnBlockingTest, ExtraCallsWaitInFifoOrder) {
  RuntimeOptions o = Options();
  o.blocking_threads = 1;
  Runtime rt(o);
  absl::StatusOr<std::vector<int>> order = rt.block_on(InOrder(50));
  ASSERT_TRUE(order.ok());
  std::vector<int> want(50);
  for (int i = 0; i < 50; ++i) want[i] = i;
  EXPECT_EQ(*order, want);
}

Task<absl::Status> IdleThreadsLeave() {
  std::vector<BlockingHandle<void>> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(spawn_blocking([] { ::usleep(30'000); }));
  for (auto& h : hs) EXPECT_TRUE((co_await h).ok());
  io_internal::BlockingPoolStats s = blocking_pool_stats();
  EXPECT_GE(s.threads_started, 1u);
  EXPECT_LE(s.threads_started, 3u);
  for (int i = 0; i < 1000 && blocking_pool_stats().threads > 0; ++i) {
    co_await sleep_for(absl::Milliseconds(10));
  }
  EXPECT_EQ(blocking_pool_stats().threads, 0) << "idle threads did not exit";
  // The pool starts threads again after they left.
  absl::StatusOr<int> v = co_await spawn_blocking([] { return 3; });
  EXPECT_EQ(v.value_or(0), 3);
  EXPECT_GT(blocking_pool_stats().threads_started, s.threads_started);
  co_return absl::OkStatus();
}

TEST_P(SpawnBlockingTest, IdleThreadsExit) {
  RuntimeOptions o = Options();
  o.blocking_idle_timeout = absl::Milliseconds(50);
  Runtime rt(o);
  EXPECT_TRUE(rt.block_on(IdleThreadsLeave()).ok());
}

// --- Cancellation -----------------------------------------------------------

struct SetOnDestroy {
  std::shared_ptr<std::atomic<bool>> flag;
  ~SetOnDestroy() { flag->store(true); }
};

Task<void> AwaitGated(std::shared_ptr<Gate> g, std::shared_ptr<std::atomic<bool>> frame_gone) {
  SetOnDestroy guard{frame_gone};
  absl::StatusOr<std::unique_ptr<Tracked>> r = co_await spawn_blocking(GatedCall(g, 1));
  ADD_FAILURE() << "resumed after its task was cancelled";
}

TEST_P(SpawnBlockingTest, CancellingTheAwaitingTaskEndsItAtOnceAndDropsTheResult) {
  Runtime rt(Options());
  auto g = std::make_shared<Gate>();
  auto frame_gone = std::make_shared<std::atomic<bool>>(false);
  JoinHandle<void> h = rt.spawn(AwaitGated(g, frame_gone));
  ASSERT_TRUE(Eventually([&] { return g->entered.load(); }));
  const absl::Time t0 = absl::Now();
  h.cancel();
  absl::Status s = h.BlockingJoin();
  const absl::Duration took = absl::Now() - t0;
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_LT(took, absl::Seconds(1)) << "cancel waited for the blocking call";
  EXPECT_TRUE(frame_gone->load()) << "the frame outlived the cancel";
  EXPECT_FALSE(g->left.load()) << "the call should still be running";
  // The call runs to its end; its result is destroyed when it arrives.
  g->open.store(true);
  EXPECT_TRUE(Eventually([&] { return g->left.load() && Tracked::live.load() == 0; }))
      << Tracked::live.load() << " results alive";
}

Task<absl::Status> CancelBeforeStart(std::shared_ptr<Gate> g, std::shared_ptr<std::atomic<bool>> ran) {
  BlockingHandle<std::unique_ptr<Tracked>> first = spawn_blocking(GatedCall(g, 1));
  // The pool has one thread, busy with `first`: this one waits in the queue.
  auto owned = std::make_unique<Tracked>(2);
  BlockingHandle<void> second =
      spawn_blocking([ran, owned = std::move(owned)] { ran->store(true); });
  EXPECT_EQ(Tracked::live.load(), 1);
  second.cancel();
  EXPECT_TRUE(second.done());
  EXPECT_EQ(Tracked::live.load(), 0) << "the cancelled function was not destroyed";
  absl::Status s = co_await second;
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  g->open.store(true);
  absl::StatusOr<std::unique_ptr<Tracked>> r = co_await first;
  EXPECT_TRUE(r.ok() && (*r)->value == 1);
  first.cancel();  // finished: no effect
  co_return absl::OkStatus();
}

TEST_P(SpawnBlockingTest, CancelledBeforeItStartsTheCallNeverRuns) {
  RuntimeOptions o = Options();
  o.blocking_threads = 1;
  Runtime rt(o);
  auto g = std::make_shared<Gate>();
  auto ran = std::make_shared<std::atomic<bool>>(false);
  EXPECT_TRUE(rt.block_on(CancelBeforeStart(g, ran)).ok());
  EXPECT_FALSE(ran->load());
  EXPECT_EQ(Tracked::live.load(), 0);
}

Task<absl::Status> Timeouts(std::shared_ptr<Gate> g) {
  // The deadline passes while the call runs: the await ends at once.
  const absl::Time t0 = absl::Now();
  absl::StatusOr<std::unique_ptr<Tracked>> r =
      co_await timeout(spawn_blocking(GatedCall(g, 1)), absl::Milliseconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  EXPECT_FALSE(g->left.load());
  // A call that finishes in time.
  absl::StatusOr<int> v = co_await timeout(spawn_blocking([] { return 5; }), absl::Seconds(30));
  EXPECT_EQ(v.value_or(0), 5);
  // A handle kept by the caller outlives a timeout and can be awaited again.
  BlockingHandle<int> h = spawn_blocking([] {
    ::usleep(100'000);
    return 9;
  });
  absl::StatusOr<int> early = co_await timeout(h, absl::Milliseconds(5));
  EXPECT_TRUE(absl::IsDeadlineExceeded(early.status())) << early.status();
  absl::StatusOr<int> later = co_await h;
  EXPECT_EQ(later.value_or(0), 9);
  co_return absl::OkStatus();
}

TEST_P(SpawnBlockingTest, TimeoutAroundACallThatRuns) {
  Runtime rt(Options());
  auto g = std::make_shared<Gate>();
  EXPECT_TRUE(rt.block_on(Timeouts(g)).ok());
  g->open.store(true);
  EXPECT_TRUE(Eventually([&] { return g->left.load() && Tracked::live.load() == 0; }))
      << Tracked::live.load() << " results alive";
}

// --- Shutdown ---------------------------------------------------------------

Task<void> StartDetached(std::shared_ptr<std::atomic<bool>> done) {
  spawn_blocking([done] {
    ::usleep(200'000);
    done->store(true);
  }).detach();
  co_return;
}

TEST_P(SpawnBlockingTest, ShutdownWaitsForRunningCallsWithinTheGrace) {
  Runtime rt(Options());
  auto done = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(rt.block_on(StartDetached(done)).ok());
  ::testing::internal::CaptureStderr();
  const absl::Time t0 = absl::Now();
  rt.Shutdown(absl::Seconds(10));
  const absl::Duration took = absl::Now() - t0;
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(done->load()) << "shutdown did not wait for the running call";
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("detaching")));
}

Task<void> AwaitGatedThenQueued(std::shared_ptr<Gate> g, std::shared_ptr<std::atomic<bool>> ran) {
  BlockingHandle<std::unique_ptr<Tracked>> first = spawn_blocking(GatedCall(g, 1));
  auto owned = std::make_unique<Tracked>(2);
  BlockingHandle<void> queued =
      spawn_blocking([ran, owned = std::move(owned)] { ran->store(true); });
  (void)co_await first;
  ADD_FAILURE() << "resumed after shutdown cancelled the task";
}

TEST_P(SpawnBlockingTest, ShutdownDetachesCallsStillRunningAfterTheGrace) {
  RuntimeOptions o = Options();
  o.blocking_threads = 1;
  auto g = std::make_shared<Gate>();
  auto ran = std::make_shared<std::atomic<bool>>(false);
  std::string err;
  absl::Duration took;
  {
    Runtime rt(o);
    JoinHandle<void> h = rt.spawn(AwaitGatedThenQueued(g, ran));
    ASSERT_TRUE(Eventually([&] { return g->entered.load(); }));
    ::testing::internal::CaptureStderr();
    const absl::Time t0 = absl::Now();
    rt.Shutdown(absl::Milliseconds(200));
    took = absl::Now() - t0;
    err = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(absl::IsCancelled(h.BlockingJoin()));
  }
  // Tasks and running calls had the grace; then the call was detached.
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(5)) << "shutdown waited for the blocking call";
  EXPECT_THAT(err, HasSubstr("1 blocking call(s) still running after the shutdown grace"));
  EXPECT_FALSE(g->left.load());
  // The queued call was dropped unrun, its function destroyed.
  EXPECT_FALSE(ran->load());
  EXPECT_EQ(Tracked::live.load(), 0);
  // The detached call finishes on its own thread; its result is dropped.
  g->open.store(true);
  EXPECT_TRUE(Eventually([&] { return g->left.load() && Tracked::live.load() == 0; }));
  EXPECT_FALSE(ran->load());
}

// --- Resolve and connect ----------------------------------------------------

Task<absl::Status> ResolveCases() {
  absl::StatusOr<std::vector<SocketAddress>> local = co_await SocketAddress::Resolve("localhost:80");
  EXPECT_TRUE(local.ok()) << local.status();
  if (local.ok()) {
    EXPECT_FALSE(local->empty());
    for (const SocketAddress& a : *local) {
      EXPECT_EQ(a.port(), 80);
      EXPECT_TRUE(a.ToString() == "127.0.0.1:80" || a.ToString() == "[::1]:80") << a.ToString();
    }
  }
  // Literals need no lookup.
  absl::StatusOr<std::vector<SocketAddress>> v4 = co_await SocketAddress::Resolve("127.0.0.1:8080");
  EXPECT_TRUE(v4.ok() && v4->size() == 1 && (*v4)[0].ToString() == "127.0.0.1:8080");
  absl::StatusOr<std::vector<SocketAddress>> v6 = co_await SocketAddress::Resolve("[::1]:443");
  EXPECT_TRUE(v6.ok() && v6->size() == 1 && (*v6)[0].ToString() == "[::1]:443");
  // Malformed text.
  absl::StatusOr<std::vector<SocketAddress>> no_port = co_await SocketAddress::Resolve("localhost");
  EXPECT_EQ(no_port.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_port.status().message(), HasSubstr("missing ':port'"));
  absl::StatusOr<std::vector<SocketAddress>> big_port =
      co_await SocketAddress::Resolve("localhost:70000");
  EXPECT_EQ(big_port.status().code(), absl::StatusCode::kInvalidArgument);
  // A host that does not exist (RFC 6761 reserves .invalid).
  absl::StatusOr<std::vector<SocketAddress>> bad =
      co_await SocketAddress::Resolve("no-such-host.invalid:80");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsNotFound(bad.status()) || absl::IsUnavailable(bad.status())) << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr("host \"no-such-host.invalid\""));
  EXPECT_THAT(bad.status().message(), HasSubstr("getaddrinfo"));
  std::printf("invalid host: %s\n", bad.status().ToString().c_str());
  co_return absl::OkStatus();
}

TEST_P(SpawnBlockingTest, ResolvesLocalhostAndExplainsAnInvalidHost) {
  Runtime rt(Options());
  EXPECT_TRUE(rt.block_on(ResolveCases()).ok());
  // The blocking form, off the cores.
  absl::StatusOr<std::vector<SocketAddress>> r = SocketAddress::ResolveBlocking("localhost:http");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].port(), 80);
}

Task<absl::Status> ServeHello(TcpListener* l) {
  absl::StatusOr<TcpStream> c = co_await l->accept();
  if (!c.ok()) co_return c.status();
  co_return co_await c->write_all(std::string_view("hello"));
}

Task<absl::StatusOr<std::string>> ConnectAndRead(std::string host_port) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(host_port);
  if (!s.ok()) co_return s.status();
  std::string got;
  std::byte buf[16];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s->read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *n);
  }
  co_return got;
}

TEST_P(SpawnBlockingTest, TcpStreamConnectsByName) {
  Runtime rt(Options());
  absl::StatusOr<TcpListener> l = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
  ASSERT_TRUE(l.ok()) << l.status();
  const std::uint16_t port = l->local_addr()->port();
  JoinHandle<absl::Status> server = rt.spawn_on(0, ServeHello(&*l));
  absl::StatusOr<std::string> got =
      rt.spawn_on(1, ConnectAndRead(absl::StrCat("localhost:", port))).BlockingJoin();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "hello");
  EXPECT_TRUE(server.BlockingJoin().ok());
  l->close();
  // Nobody listens any more: every address is tried, and the error says so.
  absl::StatusOr<std::string> refused =
      rt.block_on(ConnectAndRead(absl::StrCat("localhost:", port)));
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", port, ": ")));
  EXPECT_THAT(refused.status().message(), HasSubstr("none accepted"));
  // A name that does not resolve fails with the resolver's error.
  absl::StatusOr<std::string> unknown = rt.block_on(ConnectAndRead("no-such-host.invalid:80"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("no-such-host.invalid"));
}

INSTANTIATE_TEST_SUITE_P(Backends, SpawnBlockingTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
