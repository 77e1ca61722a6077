#include "io/ring_buffer.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class RingBufferTest : public testing_io::BackendSuite<2> {};

TEST(RingBufferBasicsTest, TrySendTryRecvRespectCapacity) {
  RingBuffer<std::unique_ptr<int>> rb(3);
  EXPECT_EQ(rb.capacity(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rb.try_send(std::make_unique<int>(i)));
  EXPECT_FALSE(rb.try_send(std::make_unique<int>(9)));  // full
  EXPECT_EQ(rb.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::optional<std::unique_ptr<int>> v = rb.try_recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(**v, i);
  }
  EXPECT_FALSE(rb.try_recv().has_value());
  // Wrap around several times.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(rb.try_send(std::make_unique<int>(i)));
    EXPECT_EQ(**rb.try_recv(), i);
  }
}

Task<absl::Status> SendRange(RingBuffer<int>* rb, int from, int to) {
  for (int i = from; i < to; ++i) {
    absl::Status s = co_await rb->send(i);
    if (!s.ok()) co_return s;
  }
  co_return absl::OkStatus();
}

Task<std::vector<int>> RecvN(RingBuffer<int>* rb, int n) {
  std::vector<int> got;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<int> v = co_await rb->recv();
    if (!v.ok()) break;
    got.push_back(*v);
  }
  co_return got;
}

TEST_P(RingBufferTest, BackPressureAcrossCoresKeepsOrder) {
  Runtime rt(Options());
  RingBuffer<int> rb(4);
  constexpr int kN = 20000;
  JoinHandle<std::vector<int>> c = rt.spawn_on(1, RecvN(&rb, kN));
  JoinHandle<absl::Status> p = rt.spawn_on(0, SendRange(&rb, 0, kN));
  absl::StatusOr<std::vector<int>> got = c.BlockingJoin();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ((*got)[i], i);
  EXPECT_TRUE(p.BlockingJoin().ok());
}

TEST_P(RingBufferTest, SenderWaitsWhileFull) {
  Runtime rt(Options());
  RingBuffer<int> rb(2);
  JoinHandle<absl::Status> p = rt.spawn_on(0, SendRange(&rb, 0, 3));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(p.done());  // third send is waiting for room
  EXPECT_EQ(rb.size(), 2u);
  EXPECT_EQ(rb.try_recv(), 0);  // makes room: the sender finishes
  EXPECT_TRUE(p.BlockingJoin().ok());
  EXPECT_EQ(rb.try_recv(), 1);
  EXPECT_EQ(rb.try_recv(), 2);
}

TEST_P(RingBufferTest, CloseWakesSendersAndReceivers) {
  Runtime rt(Options());
  RingBuffer<int> full(1);
  ASSERT_TRUE(full.try_send(0));
  RingBuffer<int> empty(1);
  JoinHandle<absl::Status> s = rt.spawn_on(0, SendRange(&full, 1, 2));
  JoinHandle<std::vector<int>> r = rt.spawn_on(1, RecvN(&empty, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  full.close();
  empty.close();
  EXPECT_EQ(s.BlockingJoin().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::vector<int>> got = r.BlockingJoin();
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(full.try_recv(), 0);  // drained after close
}

Task<std::int64_t> SumN(RingBuffer<int>* rb, int n) {
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<int> v = co_await rb->recv();
    if (!v.ok()) co_return -1;
    sum += *v;
  }
  co_return sum;
}

TEST_P(RingBufferTest, ManyProducersAndConsumers) {
  Runtime rt(Options());
  RingBuffer<int> rb(8);
  constexpr int kPer = 2000;
  std::vector<JoinHandle<absl::Status>> ps;
  std::vector<JoinHandle<std::int64_t>> cs;
  for (int i = 0; i < 4; ++i) {
    cs.push_back(rt.spawn_on(i % 2, SumN(&rb, kPer)));
    ps.push_back(rt.spawn_on((i + 1) % 2, SendRange(&rb, i * kPer, (i + 1) * kPer)));
  }
  std::int64_t total = 0;
  for (auto& c : cs) {
    absl::StatusOr<std::int64_t> s = c.BlockingJoin();
    ASSERT_TRUE(s.ok());
    ASSERT_GE(*s, 0);
    total += *s;
  }
  for (auto& p : ps) EXPECT_TRUE(p.BlockingJoin().ok());
  std::int64_t n = 4 * kPer;
  EXPECT_EQ(total, n * (n - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, RingBufferTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
