#include "io/runtime.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/channel.h"
#include "io/internal/backend.h"
#include "io/internal/core.h"
#include "io/task.h"

namespace readbuf {
namespace {

Task<int> CoreIndex() { co_return current_core(); }

Task<int> Value(int v) { co_return v; }

Task<void> Forever() {
  for (;;) co_await io_internal::SleepAwaiter(io_internal::BootTimeNowNs() +
                                              1000000000);
}

TEST(RuntimeTest, DefaultCoreCountIsHardwareConcurrency) {
  Runtime rt;
  int hc = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(rt.n_cores(), hc > 0 ? hc : 1);
}

TEST(RuntimeTest, CurrentCoreOffCoreIsMinusOne) {
  EXPECT_EQ(current_core(), -1);
  EXPECT_EQ(core_count(), 0);
}

TEST(RuntimeTest, SpawnFromOutsideIsRoundRobin) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  std::vector<JoinHandle<int>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(rt.spawn(CoreIndex()));
  std::vector<int> cores;
  for (auto& h : hs) {
    absl::StatusOr<int> r = h.BlockingJoin();
    ASSERT_TRUE(r.ok());
    cores.push_back(*r);
  }
  EXPECT_EQ(cores[0], cores[2]);
  EXPECT_EQ(cores[1], cores[3]);
  EXPECT_NE(cores[0], cores[1]);
}

Task<std::pair<int, int>> ParentAndChildCore() {
  int parent = current_core();
  JoinHandle<int> h = spawn(CoreIndex());
  absl::StatusOr<int> child = co_await h;
  co_return std::make_pair(parent, child.ok() ? *child : -2);
}

TEST(RuntimeTest, ChildStaysOnParentCore) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  for (int i = 0; i < 4; ++i) {
    auto r = rt.block_on(ParentAndChildCore());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->first, r->second);
  }
}

TEST(RuntimeTest, SpawnOnChoosesCore) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  for (int c = 0; c < 2; ++c) {
    absl::StatusOr<int> r = rt.spawn_on(c, CoreIndex()).BlockingJoin();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, c);
  }
}

Task<int> AwaitOtherCore(Runtime* rt) {
  // The joiner (this task) and the child run on different cores; the result
  // comes back through the inbox.
  int other = 1 - current_core();
  JoinHandle<int> h = rt->spawn_on(other, CoreIndex());
  absl::StatusOr<int> r = co_await h;
  co_return r.ok() ? *r : -1;
}

TEST(RuntimeTest, JoinAcrossCores) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<int> r = rt.spawn_on(i % 2, AwaitOtherCore(&rt)).BlockingJoin();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1 - i % 2);
  }
}

TEST(RuntimeTest, ResultTakenOnce) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  JoinHandle<int> h = rt.spawn(Value(7));
  absl::StatusOr<int> a = h.BlockingJoin();
  absl::StatusOr<int> b = h.BlockingJoin();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 7);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
}

Task<void> CountAfter(std::atomic<int>* counter, int n) {
  for (int i = 0; i < n; ++i) co_await yield_now();
  counter->fetch_add(1);
}

TEST(RuntimeTest, DetachedTasksKeepRunning) {
  std::atomic<int> counter{0};
  {
    Runtime rt(RuntimeOptions{.n_cores = 2, .shutdown_grace = absl::Seconds(5)});
    for (int i = 0; i < 100; ++i) rt.spawn(CountAfter(&counter, 10)).detach();
    // A handle dropped without detach() detaches too.
    for (int i = 0; i < 100; ++i) (void)rt.spawn(CountAfter(&counter, 10));
  }  // Shutdown lets them finish within the grace period.
  EXPECT_EQ(counter.load(), 200);
}

TEST(RuntimeTest, CancelSuspendedTask) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  JoinHandle<void> h = rt.spawn(Forever());
  h.cancel();
  absl::Status s = h.BlockingJoin();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(h.done());
}

Task<int> CancelSelf(JoinHandle<int>* self, std::atomic<bool>* after) {
  self->cancel();
  // Still running until the next suspension point.
  after->store(true);
  co_await yield_now();
  after->store(false);  // never reached
  co_return 1;
}

TEST(RuntimeTest, CancelTakesEffectAtNextSuspension) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  std::atomic<bool> after{false};
  std::atomic<bool> gate{false};
  JoinHandle<int> h;
  // The task waits for the gate so `h` is assigned before CancelSelf runs.
  h = rt.spawn_on(0, [](JoinHandle<int>* self, std::atomic<bool>* after,
                        std::atomic<bool>* gate) -> Task<int> {
    while (!gate->load(std::memory_order_acquire)) co_await yield_now();
    co_return co_await CancelSelf(self, after);
  }(&h, &after, &gate));
  gate.store(true, std::memory_order_release);
  absl::StatusOr<int> r = h.BlockingJoin();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(after.load());
}

Task<int> CancelFromOtherCore(Runtime* rt) {
  int other = 1 - current_core();
  JoinHandle<void> h = rt->spawn_on(other, Forever());
  co_await yield_now();
  h.cancel();
  absl::Status s = co_await h;
  co_return s.code() == absl::StatusCode::kCancelled ? 1 : 0;
}

TEST(RuntimeTest, CancelAcrossCores) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<int> r = rt.spawn_on(i % 2, CancelFromOtherCore(&rt)).BlockingJoin();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
  }
}

TEST(RuntimeTest, ShutdownCancelsNeverEndingTasksWithinBound) {
  auto start = std::chrono::steady_clock::now();
  JoinHandle<void> h;
  {
    Runtime rt(RuntimeOptions{.n_cores = 2});
    h = rt.spawn(Forever());
    for (int i = 0; i < 50; ++i) rt.spawn(Forever()).detach();
    rt.Shutdown(absl::Milliseconds(50));
    EXPECT_TRUE(h.done());
    EXPECT_EQ(h.BlockingJoin().code(), absl::StatusCode::kCancelled);
    // After shutdown, new work is refused as cancelled, without hanging.
    EXPECT_EQ(rt.block_on(Value(1)).status().code(),
              absl::StatusCode::kCancelled);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RuntimeTest, ShutdownIsIdempotent) {
  Runtime rt(RuntimeOptions{.n_cores = 2});
  rt.Shutdown(absl::ZeroDuration());
  rt.Shutdown(absl::ZeroDuration());
}

TEST(RuntimeTest, BackendOptionEpoll) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = BackendKind::kEpoll});
  EXPECT_STREQ(rt.backend_name(), "epoll");
  EXPECT_TRUE(rt.backend_note().empty());
}

TEST(RuntimeTest, BackendOptionUringOrReportedFallback) {
  Runtime rt(RuntimeOptions{.n_cores = 2, .backend = BackendKind::kUring});
  if (rt.backend_note().empty()) {
    EXPECT_STREQ(rt.backend_name(), "io_uring");
  } else {
    EXPECT_STREQ(rt.backend_name(), "epoll");
    EXPECT_NE(rt.backend_note().find("io_uring"), std::string::npos);
  }
}

Task<io_internal::DoorbellStats> ThisCoreDoorbell() {
  co_return io_internal::CurrentCore()->backend()->doorbell_stats();
}

// Ping-pong between a task on core 0 and one on core 1 through two channels:
// every hop wakes the other core.
Task<int> Bounce(Channel<int>* in, Channel<int>* out, int rounds) {
  int last = 0;
  for (int i = 0; i < rounds; ++i) {
    absl::StatusOr<int> v = co_await in->receive();
    if (!v.ok()) co_return -1;
    last = *v;
    if (!out->send(*v + 1).ok()) co_return -1;
  }
  co_return last;
}

TEST(RuntimeTest, CrossCoreWakesOnUringAreMsgRingNotEventfd) {
  Runtime rt(RuntimeOptions{.n_cores = 2, .backend = BackendKind::kUring});
  if (std::string(rt.backend_name()) != "io_uring") GTEST_SKIP() << rt.backend_note();
  Channel<int> a_to_b, b_to_a;
  constexpr int kRounds = 2000;
  JoinHandle<int> b = rt.spawn_on(1, Bounce(&a_to_b, &b_to_a, kRounds));
  JoinHandle<int> a = rt.spawn_on(0, [](Channel<int>* to_b, Channel<int>* from_b) -> Task<int> {
    int v = 0;
    for (int i = 0; i < kRounds; ++i) {
      if (!to_b->send(v).ok()) co_return -1;
      absl::StatusOr<int> r = co_await from_b->receive();
      if (!r.ok()) co_return -1;
      v = *r + 1;
    }
    co_return v;
  }(&a_to_b, &b_to_a));
  absl::StatusOr<int> va = rt.block_on([](JoinHandle<int> h) -> Task<int> {
    auto r = co_await h;
    co_return r.ok() ? *r : -1;
  }(std::move(a)));
  ASSERT_TRUE(va.ok());
  EXPECT_EQ(*va, 2 * kRounds);  // every hop arrived, in order
  auto doorbell_of = [&rt](int core) {
    return rt.block_on([](JoinHandle<io_internal::DoorbellStats> h) -> Task<io_internal::DoorbellStats> {
      auto r = co_await h;
      co_return r.ok() ? *r : io_internal::DoorbellStats{};
    }(rt.spawn_on(core, ThisCoreDoorbell())));
  };
  absl::StatusOr<io_internal::DoorbellStats> d0 = doorbell_of(0);
  absl::StatusOr<io_internal::DoorbellStats> d1 = doorbell_of(1);
  ASSERT_TRUE(d0.ok() && d1.ok());
  EXPECT_GT(d0->msg_ring_sends + d1->msg_ring_sends, 0u);
  EXPECT_GT(d0->msg_ring_received + d1->msg_ring_received, 0u);
  EXPECT_EQ(d0->msg_ring_failures + d1->msg_ring_failures, 0u);
  // Core-to-core wakes never touched an eventfd; only the test's own thread
  // (block_on/spawn_on from outside) may have.
  EXPECT_LT(d0->eventfd_writes + d1->eventfd_writes, 10u)
      << "sends " << d0->msg_ring_sends + d1->msg_ring_sends;
}

TEST(RuntimeTest, EnvironmentSelectsBackendUnlessOptionsDo) {
  ::setenv("READBUF_BACKEND", "epoll", 1);
  {
    Runtime rt(RuntimeOptions{.n_cores = 1});
    EXPECT_STREQ(rt.backend_name(), "epoll");
  }
  ::setenv("READBUF_BACKEND", "uring", 1);
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = BackendKind::kEpoll});
    EXPECT_STREQ(rt.backend_name(), "epoll");  // the option wins
  }
  ::unsetenv("READBUF_BACKEND");
}

}  // namespace
}  // namespace readbuf
