#include "io/channel.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class ChannelTest : public testing_io::BackendSuite<2> {};

TEST(ChannelBasicsTest, TryReceiveAndClose) {
  Channel<std::string> ch;
  EXPECT_EQ(ch.try_receive(), std::nullopt);
  ASSERT_TRUE(ch.send("a").ok());
  ASSERT_TRUE(ch.send("b").ok());
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.try_receive(), "a");
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_EQ(ch.send("c").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ch.try_receive(), "b");  // queued items survive close
}

Task<std::int64_t> SumAll(Channel<int>* ch, int expected_count) {
  std::int64_t sum = 0;
  for (int i = 0; i < expected_count; ++i) {
    absl::StatusOr<int> v = co_await ch->receive();
    if (!v.ok()) co_return -1;
    sum += *v;
  }
  co_return sum;
}

Task<void> Produce(Channel<int>* ch, int from, int to) {
  for (int i = from; i < to; ++i) {
    (void)ch->send(i);
    if (i % 64 == 0) co_await yield_now();
  }
}

TEST_P(ChannelTest, CrossCoreTraffic) {
  Runtime rt(Options());
  Channel<int> ch;
  constexpr int kN = 20000;
  JoinHandle<std::int64_t> consumer = rt.spawn_on(0, SumAll(&ch, 2 * kN));
  JoinHandle<void> p1 = rt.spawn_on(1, Produce(&ch, 0, kN));
  JoinHandle<void> p2 = rt.spawn_on(0, Produce(&ch, kN, 2 * kN));
  absl::StatusOr<std::int64_t> sum = consumer.BlockingJoin();
  ASSERT_TRUE(sum.ok());
  std::int64_t n = 2 * kN;
  EXPECT_EQ(*sum, n * (n - 1) / 2);
}

Task<std::vector<int>> ReceiveInOrder(Channel<int>* ch) {
  std::vector<int> got;
  for (;;) {
    absl::StatusOr<int> v = co_await ch->receive();
    if (!v.ok()) co_return got;
    got.push_back(*v);
  }
}

TEST_P(ChannelTest, SendersOnPlainThreadsAndCloseEndsReceiver) {
  Runtime rt(Options());
  Channel<int> ch;
  JoinHandle<std::vector<int>> r = rt.spawn_on(1, ReceiveInOrder(&ch));
  std::thread t([&] {
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(ch.send(i).ok());
    ch.close();
  });
  t.join();
  absl::StatusOr<std::vector<int>> got = r.BlockingJoin();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 5000u);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ((*got)[i], i);  // FIFO
}

Task<absl::Status> ReceiveOne(Channel<int>* ch) {
  absl::StatusOr<int> v = co_await ch->receive();
  co_return v.status();
}

TEST_P(ChannelTest, CloseWakesEveryWaitingReceiverWithError) {
  Runtime rt(Options());
  Channel<int> ch;
  std::vector<JoinHandle<absl::Status>> rs;
  for (int i = 0; i < 20; ++i) rs.push_back(rt.spawn(ReceiveOne(&ch)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ch.close();
  for (auto& r : rs) {
    EXPECT_EQ(r.BlockingJoin().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_P(ChannelTest, CancelledReceiverDoesNotSwallowItems) {
  Runtime rt(Options());
  Channel<int> ch;
  for (int round = 0; round < 50; ++round) {
    JoinHandle<absl::Status> doomed = rt.spawn_on(round % 2, ReceiveOne(&ch));
    JoinHandle<absl::Status> survivor = rt.spawn_on(1 - round % 2, ReceiveOne(&ch));
    // Race the cancellation against a send from this thread.
    doomed.cancel();
    ASSERT_TRUE(ch.send(round).ok());
    absl::Status d = doomed.BlockingJoin();
    // Exactly one value was sent: either the doomed receiver got it before
    // the cancel landed, or the survivor gets it.
    if (d.ok()) {
      ASSERT_TRUE(ch.send(-1).ok());
    } else {
      EXPECT_EQ(d.code(), absl::StatusCode::kCancelled);
    }
    EXPECT_TRUE(survivor.BlockingJoin().ok());
  }
  EXPECT_EQ(ch.size(), 0u);
}

Task<absl::Status> ReceiveWithTimeout(Channel<int>* ch) {
  absl::StatusOr<int> v = co_await timeout(ch->receive(), absl::Milliseconds(5));
  co_return v.status();
}

TEST_P(ChannelTest, ReceiveTimesOut) {
  Runtime rt(Options());
  Channel<int> ch;
  EXPECT_EQ(rt.block_on(ReceiveWithTimeout(&ch)).code(),
            absl::StatusCode::kDeadlineExceeded);
  // The timed-out receiver is gone: a later value stays queued for others.
  ASSERT_TRUE(ch.send(1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ch.try_receive(), 1);
}

Task<std::int64_t> ManyReceivers(Channel<int>* ch, int per_task, int tasks) {
  std::vector<JoinHandle<std::int64_t>> hs;
  for (int i = 0; i < tasks; ++i) hs.push_back(spawn(SumAll(ch, per_task)));
  std::int64_t total = 0;
  for (auto& h : hs) {
    absl::StatusOr<std::int64_t> s = co_await h;
    if (!s.ok() || *s < 0) co_return -1;
    total += *s;
  }
  co_return total;
}

TEST_P(ChannelTest, ManyReceiversOnBothCores) {
  Runtime rt(Options());
  Channel<int> ch;
  constexpr int kPerTask = 500;
  constexpr int kTasks = 8;
  JoinHandle<std::int64_t> a = rt.spawn_on(0, ManyReceivers(&ch, kPerTask, kTasks));
  JoinHandle<std::int64_t> b = rt.spawn_on(1, ManyReceivers(&ch, kPerTask, kTasks));
  constexpr int kTotal = 2 * kPerTask * kTasks;
  JoinHandle<void> p = rt.spawn_on(1, Produce(&ch, 0, kTotal / 2));
  std::thread t([&] {
    for (int i = kTotal / 2; i < kTotal; ++i) (void)ch.send(i);
  });
  t.join();
  absl::StatusOr<std::int64_t> sa = a.BlockingJoin();
  absl::StatusOr<std::int64_t> sb = b.BlockingJoin();
  ASSERT_TRUE(sa.ok() && sb.ok());
  std::int64_t n = kTotal;
  EXPECT_EQ(*sa + *sb, n * (n - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, ChannelTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
