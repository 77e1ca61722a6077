#include "io/async_mutex.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class AsyncMutexTest : public testing_io::BackendSuite<2> {};

struct Counter {
  long value = 0;  // deliberately not atomic: the AsyncMutex protects it
  bool inside = false;
  int overlaps = 0;
};

Task<void> Increment(AsyncMutex<Counter>* m, int times) {
  for (int i = 0; i < times; ++i) {
    auto g = co_await m->lock();
    if (g->inside) ++g->overlaps;
    g->inside = true;
    long v = g->value;
    if (i % 8 == 0) co_await yield_now();  // hold the lock across a suspension
    g->value = v + 1;
    g->inside = false;
  }
}

TEST_P(AsyncMutexTest, MutualExclusionAcrossCores) {
  Runtime rt(Options());
  AsyncMutex<Counter> m;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 8; ++i) hs.push_back(rt.spawn_on(i % 2, Increment(&m, 500)));
  for (auto& h : hs) ASSERT_TRUE(h.BlockingJoin().ok());
  auto g = m.try_lock();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ((*g)->value, 8 * 500);
  EXPECT_EQ((*g)->overlaps, 0);
}

TEST(AsyncMutexBasicsTest, TryLockAndGuardRelease) {
  AsyncMutex<int> m(5);
  auto g = m.try_lock();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(**g, 5);
  EXPECT_TRUE(m.is_locked());
  EXPECT_FALSE(m.try_lock().has_value());
  g->unlock();
  EXPECT_FALSE(g->owns_lock());
  EXPECT_FALSE(m.is_locked());
  auto g2 = m.try_lock();
  ASSERT_TRUE(g2.has_value());
  auto g3 = std::move(*g2);
  EXPECT_TRUE(m.is_locked());
}

Task<int> LockAndRead(AsyncMutex<int>* m) {
  auto g = co_await m->lock();
  co_return *g;
}

TEST_P(AsyncMutexTest, CancelledWaiterDoesNotWedgeTheMutex) {
  Runtime rt(Options());
  AsyncMutex<int> m(42);
  for (int round = 0; round < 30; ++round) {
    auto g = m.try_lock();
    ASSERT_TRUE(g.has_value());
    JoinHandle<int> doomed = rt.spawn_on(round % 2, LockAndRead(&m));
    JoinHandle<int> survivor = rt.spawn_on(1 - round % 2, LockAndRead(&m));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    doomed.cancel();
    g->unlock();  // races with the cancellation
    absl::StatusOr<int> s = survivor.BlockingJoin();
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, 42);
    absl::StatusOr<int> d = doomed.BlockingJoin();
    EXPECT_TRUE(d.ok() || d.status().code() == absl::StatusCode::kCancelled);
  }
  EXPECT_FALSE(m.is_locked());
}

// Holds the lock across a sleep, then unlocks and relocks at once (no
// suspension in between), until `stop`.
Task<void> Hog(AsyncMutex<int>* m, std::atomic<bool>* stop, std::atomic<int>* rounds) {
  while (!stop->load()) {
    auto g = co_await m->lock();
    rounds->fetch_add(1);
    co_await sleep_for(absl::Microseconds(200));
  }
}

// How many rounds the hog began between this task's lock() call and its
// getting the lock.
Task<int> RoundsWaited(AsyncMutex<int>* m, std::atomic<int>* rounds) {
  const int before = rounds->load();
  auto g = co_await m->lock();
  co_return rounds->load() - before;
}

TEST_P(AsyncMutexTest, UnlockHandsTheLockToTheWaiterFirst) {
  // Without a hand-over, the hog's relock always wins against a waiter on
  // another core (whose wake-up is a message away), and the waiter starves.
  Runtime rt(Options());
  AsyncMutex<int> m(0);
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  JoinHandle<void> hog = rt.spawn_on(1, Hog(&m, &stop, &rounds));
  while (rounds.load() == 0) std::this_thread::yield();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<int> waited = rt.spawn_on(0, RoundsWaited(&m, &rounds)).BlockingJoin();
    ASSERT_TRUE(waited.ok());
    // FIFO: the waiter got the lock when the hog's round in progress ended
    // (counted from the waiter's own lock call, so a slow spawn under a
    // sanitizer does not count against it).
    EXPECT_LE(*waited, 2) << "waiter " << i;
  }
  stop.store(true);
  ASSERT_TRUE(hog.BlockingJoin().ok());
  EXPECT_FALSE(m.is_locked());
}

INSTANTIATE_TEST_SUITE_P(Backends, AsyncMutexTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
