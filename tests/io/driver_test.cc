// Tests for io/driver.h on both backends: every operation (files through a
// memfd, sockets through a socketpair and TCP loopback), reads into Uninit,
// Vectored and Pooled buffers, the fixed-size queue (push false without an
// allocation, push_batch all or nothing), cancellation, Timeout ops and
// deadlines on the boot clock, and a Driver beside a Runtime on one thread.

#include "io/driver.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace readbuf {
namespace {

using driver::Completion;

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

template <class B>
std::string Filled(const B& b) {
  std::string out;
  for_each_filled(b, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  return out;
}

BootClock::time_point In(absl::Duration d) {
  return BootClock::now() + std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

class DriverTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<Driver> d = Driver::Create(DriverOptions{.backend = GetParam(), .entries = 16});
    ASSERT_TRUE(d.ok()) << d.status();
    driver_.emplace(*std::move(d));
    const char* want = GetParam() == BackendKind::kEpoll ? "epoll" : "io_uring";
    ASSERT_STREQ(driver_->backend_name(), want) << driver_->backend_note();
  }
  void TearDown() override {
    driver_.reset();
    for (int fd : fds_) ::close(fd);
  }
  int Track(int fd) {
    fds_.push_back(fd);
    return fd;
  }
  // Completions until `n` arrived (or 5 s passed), in order.
  std::vector<Completion> Drain(std::size_t n) {
    std::vector<Completion> got;
    const auto give_up = In(absl::Seconds(5));
    while (got.size() < n && BootClock::now() < give_up) {
      Completion out[4];
      const std::size_t k = driver_->submit_and_wait(give_up, out);
      got.insert(got.end(), out, out + k);
    }
    return got;
  }
  // A connected AF_UNIX stream pair, both attached.
  void Pair(int* a, int* b) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    *a = Track(sv[0]);
    *b = Track(sv[1]);
    ASSERT_TRUE(driver_->attach(*a).ok());
    ASSERT_TRUE(driver_->attach(*b).ok());
  }

  std::optional<Driver> driver_;
  std::vector<int> fds_;
};

TEST_P(DriverTest, WriteAtThenReadAtIntoUninitAndVectored) {
  const int fd = Track(::memfd_create("driver_test", MFD_CLOEXEC));
  ASSERT_GE(fd, 0);
  const std::string text = "hello, driver world";
  ASSERT_TRUE(driver_->push(driver::WriteAt{fd, Bytes(text), 0}, 1));
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].user_data, 1u);
  EXPECT_EQ(c[0].result, static_cast<int>(text.size()));

  Uninit a(5);
  Vectored<4> v({3, 3, 3, 30});
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, a, 7}, 2));
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, v, 0}, 3));
  c = Drain(2);
  ASSERT_EQ(c.size(), 2u);
  for (const Completion& x : c) {
    if (x.user_data == 2) {
      EXPECT_EQ(x.result, 5);
    } else {
      EXPECT_EQ(x.user_data, 3u);
      EXPECT_EQ(x.result, static_cast<int>(text.size()));
    }
  }
  EXPECT_EQ(Filled(a), "drive");
  EXPECT_EQ(Filled(v), text);

  Uninit eof(8);
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, eof, 1000}, 4));
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 0);  // end of file
  EXPECT_EQ(eof.filled_size(), 0u);
}

TEST_P(DriverTest, ReadAtErrorIsMinusErrno) {
  Uninit a(8);
  ASSERT_TRUE(driver_->push(driver::ReadAt{-1, a, 0}, 9));
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, -EBADF);
}

TEST_P(DriverTest, RecvIntoPooledAfterSend) {
  int a, b;
  Pair(&a, &b);
  Pooled buf;
  ASSERT_TRUE(driver_->push(driver::Recv{a, buf}, 1));
  // Nothing to read yet: a deadline that passed only polls.
  Completion out[4];
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now(), out), 0u);
  const std::string msg = "ping";
  ASSERT_TRUE(driver_->push(driver::Send{b, Bytes(msg)}, 2));
  std::vector<Completion> c = Drain(2);
  ASSERT_EQ(c.size(), 2u);
  for (const Completion& x : c) EXPECT_EQ(x.result, 4) << x.user_data;
  EXPECT_EQ(Filled(buf), "ping");
}

TEST_P(DriverTest, SendVAndVectoredRecv) {
  int a, b;
  Pair(&a, &b);
  const std::string p1 = "abc", p2 = "defgh";
  iovec iov[2] = {{const_cast<char*>(p1.data()), p1.size()},
                  {const_cast<char*>(p2.data()), p2.size()}};
  ASSERT_TRUE(driver_->push(driver::SendV{b, iov}, 1));
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 8);
  Vectored<4> v({2, 2, 2, 2});
  ASSERT_TRUE(driver_->push(driver::Recv{a, v}, 2));
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 8);
  EXPECT_EQ(Filled(v), "abcdefgh");
}

TEST_P(DriverTest, AcceptConnectOverTcpLoopback) {
  const int l = Track(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  ASSERT_EQ(::listen(l, 8), 0);
  socklen_t len = sizeof(sin);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&sin), &len), 0);
  const int c = Track(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(driver_->attach(l).ok());
  ASSERT_TRUE(driver_->attach(c).ok());
  EXPECT_EQ(driver_->attach(c).code(), absl::StatusCode::kAlreadyExists);
  const SocketAddress addr = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sin), len);
  ASSERT_TRUE(driver_->push(driver::Accept{l}, 1));
  ASSERT_TRUE(driver_->push(driver::Connect{c, addr}, 2));
  std::vector<Completion> got = Drain(2);
  ASSERT_EQ(got.size(), 2u);
  int accepted = -1;
  for (const Completion& x : got) {
    if (x.user_data == 1) {
      accepted = x.result;
    } else {
      EXPECT_EQ(x.result, 0) << std::strerror(-x.result);
    }
  }
  ASSERT_GE(accepted, 0) << std::strerror(-accepted);
  Track(accepted);
  ASSERT_TRUE(driver_->attach(accepted).ok());
  const std::string msg = "over tcp";
  Uninit buf(64);
  ASSERT_TRUE(driver_->push(driver::Recv{accepted, buf}, 3));
  ASSERT_TRUE(driver_->push(driver::Send{c, Bytes(msg)}, 4));
  got = Drain(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Filled(buf), msg);

  // A refused connection reports its errno.
  const int c2 = Track(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(driver_->attach(c2).ok());
  ::close(fds_[0]);  // the listener
  fds_[0] = ::dup(c2);  // keep the Track list closeable
  ASSERT_TRUE(driver_->detach(l).ok());
  ASSERT_TRUE(driver_->push(driver::Connect{c2, addr}, 5));
  got = Drain(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result, -ECONNREFUSED);
}

TEST_P(DriverTest, PollReadableCompletesWhenDataArrives) {
  int a, b;
  Pair(&a, &b);
  ASSERT_TRUE(driver_->push(driver::PollReadable{a}, 1));
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(20)), out), 0u);
  ASSERT_EQ(::write(b, "x", 1), 1);
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].result > 0 && (c[0].result & POLLIN)) << c[0].result;
}

TEST_P(DriverTest, FullQueuePushesFalseAndAllocatesNothing) {
  for (std::uint64_t i = 0; i < driver_->capacity(); ++i) {
    ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), i));
  }
  EXPECT_EQ(driver_->free_entries(), 0u);
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(driver_->push(driver::Timeout::After(absl::Hours(1)), 99));
  }
  EXPECT_EQ(g_allocations.load(), before);
  // Reaping frees entries again.
  EXPECT_EQ(driver_->cancel(3), 1u);
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].user_data, 3u);
  EXPECT_EQ(c[0].result, -ECANCELED);
  EXPECT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 100));
}

TEST_P(DriverTest, PushBatchIsAllOrNothing) {
  std::vector<driver::Entry> batch;
  for (std::uint64_t i = 0; i < 10; ++i) {
    batch.push_back(driver::Entry{driver::Timeout::After(absl::Milliseconds(1)), i});
  }
  ASSERT_TRUE(driver_->push_batch(batch));
  EXPECT_EQ(driver_->free_entries(), 6u);
  EXPECT_FALSE(driver_->push_batch(batch));  // 10 > 6: none queued
  EXPECT_EQ(driver_->free_entries(), 6u);
  std::vector<Completion> c = Drain(10);
  ASSERT_EQ(c.size(), 10u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ETIME);
  EXPECT_EQ(driver_->free_entries(), 16u);
  EXPECT_TRUE(driver_->push_batch(std::span(batch).first(6)));
  EXPECT_EQ(Drain(6).size(), 6u);
}

TEST_P(DriverTest, CancelledRecvLeavesItsBufferUntouched) {
  int a, b;
  Pair(&a, &b);
  Uninit plain(32);
  Pooled pooled;
  ASSERT_TRUE(driver_->push(driver::Recv{a, plain}, 7));
  ASSERT_TRUE(driver_->push(driver::Recv{a, pooled}, 8));
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  EXPECT_EQ(driver_->cancel(7), 1u);
  EXPECT_EQ(driver_->cancel(8), 1u);
  EXPECT_EQ(driver_->cancel(12345), 0u);
  std::vector<Completion> c = Drain(2);
  ASSERT_EQ(c.size(), 2u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ECANCELED) << x.user_data;
  EXPECT_EQ(plain.filled_size(), 0u);
  EXPECT_EQ(pooled.filled_size(), 0u);
  EXPECT_EQ(pooled.capacity(), 0u);  // the block went back
  // The fd still works afterwards.
  ASSERT_EQ(::write(b, "after", 5), 5);
  ASSERT_TRUE(driver_->push(driver::Recv{a, plain}, 9));
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(Filled(plain), "after");
}

TEST_P(DriverTest, TimeoutCompletesWithEtimeOnTheBootClock) {
  const auto start = BootClock::now();
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Milliseconds(50)), 1));
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Milliseconds(10)), 2));
  std::vector<Completion> c = Drain(2);
  const auto took = BootClock::now() - start;
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].user_data, 2u);  // the earlier deadline first
  EXPECT_EQ(c[1].user_data, 1u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ETIME);
  EXPECT_GE(took, std::chrono::milliseconds(50));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_P(DriverTest, DeadlineReturnsNoCompletionsWhenItPasses) {
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Seconds(30)), 1));
  Completion out[4];
  auto start = BootClock::now();
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(40)), out), 0u);
  EXPECT_GE(BootClock::now() - start, std::chrono::milliseconds(40));
  EXPECT_LT(BootClock::now() - start, std::chrono::seconds(2));
  // A deadline in the past polls: back at once.
  start = BootClock::now();
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now() - std::chrono::seconds(1), out), 0u);
  EXPECT_LT(BootClock::now() - start, std::chrono::milliseconds(20));
  // Nothing in flight and no deadline: nothing to wait for.
  EXPECT_EQ(driver_->cancel(1), 1u);
  EXPECT_EQ(Drain(1).size(), 1u);
  EXPECT_EQ(driver_->submit_and_wait(std::nullopt, out), 0u);
}

TEST_P(DriverTest, DestroyingTheDriverCancelsWhatIsInFlight) {
  int a, b;
  Pair(&a, &b);
  Uninit buf(16);
  ASSERT_TRUE(driver_->push(driver::Recv{a, buf}, 1));
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 2));
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now(), out), 0u);
  driver_.reset();  // returns only after both ended
  EXPECT_EQ(buf.filled_size(), 0u);
}

TEST_P(DriverTest, WorksBesideARuntimeOnTheSameThread) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Milliseconds(1)), 1));
  // block_on wakes the core from this thread: that wake must not wait for
  // the driver's ring to enter.
  absl::StatusOr<int> v = rt.block_on([]() -> Task<int> { co_return 42; }());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(Drain(1).size(), 1u);
}

TEST(DriverOptionsTest, EntriesAreValidated) {
  EXPECT_EQ(Driver::Create(DriverOptions{.entries = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, DriverTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
