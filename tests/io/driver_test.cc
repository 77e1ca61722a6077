// Tests for io/driver.h on both backends: every operation (files through a
// memfd, sockets through a socketpair and TCP loopback), reads into every
// ReadBuf policy (advanced on completion; a Pooled buffer prepared at push on
// io_uring and only once its fd is ready on epoll), the fixed-size queue
// (ResourceExhausted without an allocation, push_batch all or nothing), bad
// input answered with a Status, cancellation, Timeout ops and deadlines on
// the boot clock, one io_uring_enter per submit_and_wait, teardown with
// operations in flight, the debug checks, and a Driver beside a Runtime.

#include "io/driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/harness/syscall_counter.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
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
// Coroutine frames come from the nothrow form (io/internal/frame_allocator.cc):
// every form that frees with operator delete allocates with malloc here.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

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

// An fd number that is not open.
int ClosedFd() {
  const int fd = ::dup(0);
  ::close(fd);
  return fd;
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
  bool uring() const { return GetParam() == BackendKind::kUring; }
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
  // The one completion of `user_data` (after draining `n`).
  Completion Only(std::size_t n, std::uint64_t user_data) {
    for (const Completion& c : Drain(n)) {
      if (c.user_data == user_data) return c;
    }
    ADD_FAILURE() << "no completion for " << user_data;
    return Completion{user_data, -9999};
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
  // A listening TCP socket on loopback, attached, and its address.
  int Listener(SocketAddress* addr) {
    const int l = Track(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    EXPECT_EQ(::listen(l, 8), 0);
    EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&sin), &len), 0);
    *addr = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sin), len);
    EXPECT_TRUE(driver_->attach(l).ok());
    return l;
  }
  // A memfd holding `text`.
  int File(const std::string& text) {
    const int fd = Track(::memfd_create("driver_test", MFD_CLOEXEC));
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    return fd;
  }

  std::optional<Driver> driver_;
  std::vector<int> fds_;
};

// --- every operation ---

TEST_P(DriverTest, WriteAtThenReadAtIntoUninitAndVectored) {
  const int fd = Track(::memfd_create("driver_test", MFD_CLOEXEC));
  ASSERT_GE(fd, 0);
  const std::string text = "hello, driver world";
  ASSERT_TRUE(driver_->push(driver::WriteAt{fd, Bytes(text), 0}, 1).ok());
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].user_data, 1u);
  EXPECT_EQ(c[0].result, static_cast<int>(text.size()));

  Uninit a(5);
  Vectored<4> v({3, 3, 3, 30});
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, a, 7}, 2).ok());
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, v, 0}, 3).ok());  // one preadv / READV
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
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, eof, 1000}, 4).ok());
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 0);  // end of file
  EXPECT_EQ(eof.filled_size(), 0u);
}

TEST_P(DriverTest, RecvIntoPooledAfterSend) {
  int a, b;
  Pair(&a, &b);
  Pooled buf;
  ASSERT_TRUE(driver_->push(driver::Recv{a, buf}, 1).ok());
  // Nothing to read yet: a deadline that passed only polls.
  Completion out[4];
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now(), out), 0u);
  const std::string msg = "ping";
  ASSERT_TRUE(driver_->push(driver::Send{b, Bytes(msg)}, 2).ok());
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
  ASSERT_TRUE(driver_->push(driver::SendV{b, iov}, 1).ok());
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 8);
  Vectored<4> v({2, 2, 2, 2});
  ASSERT_TRUE(driver_->push(driver::Recv{a, v}, 2).ok());  // one recvmsg
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 8);
  EXPECT_EQ(Filled(v), "abcdefgh");
}

TEST_P(DriverTest, AcceptConnectOverTcpLoopback) {
  SocketAddress addr;
  const int l = Listener(&addr);
  const int c = Track(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(driver_->attach(c).ok());
  ASSERT_TRUE(driver_->push(driver::Accept{l}, 1).ok());
  ASSERT_TRUE(driver_->push(driver::Connect{c, addr}, 2).ok());
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
  ASSERT_TRUE(driver_->push(driver::Recv{accepted, buf}, 3).ok());
  ASSERT_TRUE(driver_->push(driver::Send{c, Bytes(msg)}, 4).ok());
  got = Drain(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Filled(buf), msg);

  // A refused connection reports its errno.
  ASSERT_TRUE(driver_->detach(l).ok());
  ::close(l);
  fds_[0] = ::dup(c);  // keep the Track list closeable
  const int c2 = Track(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(driver_->attach(c2).ok());
  ASSERT_TRUE(driver_->push(driver::Connect{c2, addr}, 5).ok());
  got = Drain(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result, -ECONNREFUSED);
}

TEST_P(DriverTest, PollReadableCompletesWhenDataArrives) {
  int a, b;
  Pair(&a, &b);
  ASSERT_TRUE(driver_->push(driver::PollReadable{a}, 1).ok());
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(20)), out), 0u);
  ASSERT_EQ(::write(b, "x", 1), 1);
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].result > 0 && (c[0].result & POLLIN)) << c[0].result;
  // A peer that closes makes it readable too (POLLHUP or POLLIN).
  char x;
  ASSERT_EQ(::read(a, &x, 1), 1);
  ASSERT_TRUE(driver_->push(driver::PollReadable{a}, 2).ok());
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  ASSERT_TRUE(driver_->detach(b).ok());
  ::shutdown(b, SHUT_WR);
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_GT(c[0].result, 0);
}

TEST_P(DriverTest, SendParksUntilThePeerReads) {
  int a, b;
  Pair(&a, &b);
  // Fill a's send buffer (and b's receive buffer).
  std::vector<char> chunk(64 * 1024, 'f');
  std::size_t queued = 0;
  for (;;) {
    const ssize_t n = ::send(a, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n < 0) break;
    queued += static_cast<std::size_t>(n);
  }
  ASSERT_GT(queued, 0u);
  const std::string msg = "last";
  ASSERT_TRUE(driver_->push(driver::Send{a, Bytes(msg)}, 1).ok());
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(20)), out), 0u);
  // The peer drains: the send completes.
  std::vector<char> sink(queued + msg.size());
  std::size_t got = 0;
  std::vector<Completion> c;
  while (c.empty() && got < sink.size()) {
    const ssize_t n = ::recv(b, sink.data() + got, sink.size() - got, MSG_DONTWAIT);
    if (n > 0) got += static_cast<std::size_t>(n);
    const std::size_t k = driver_->submit_and_wait(In(absl::Milliseconds(5)), out);
    c.insert(c.end(), out, out + k);
  }
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 4);
}

// --- any ReadBuf policy, advanced on completion ---

template <class B>
class DriverPolicyTest : public ::testing::Test {};

struct ZeroedMaker {
  static Zeroed Make() { return Zeroed(16); }
};
struct UninitMaker {
  static Uninit Make() { return Uninit(16); }
};
struct VectoredMaker {
  static Vectored<4> Make() { return Vectored<4>({4, 4, 4, 4}); }
};
struct DynMaker {
  static Dyn Make() { return Dyn(16); }
};
struct PooledMaker {
  static Pooled Make() { return Pooled(); }
};
using Makers = ::testing::Types<ZeroedMaker, UninitMaker, VectoredMaker, DynMaker, PooledMaker>;
TYPED_TEST_SUITE(DriverPolicyTest, Makers);

TYPED_TEST(DriverPolicyTest, ReadAtAndRecvFillAndAdvanceOnBothBackends) {
  for (BackendKind kind : testing_io::AllBackends()) {
    SCOPED_TRACE(kind == BackendKind::kEpoll ? "epoll" : "io_uring");
    absl::StatusOr<Driver> d = Driver::Create(DriverOptions{.backend = kind, .entries = 4});
    ASSERT_TRUE(d.ok()) << d.status();
    auto drain_one = [&]() -> Completion {
      Completion out[1];
      const auto give_up = In(absl::Seconds(5));
      while (BootClock::now() < give_up) {
        if (d->submit_and_wait(give_up, out) == 1) return out[0];
      }
      return Completion{0, -9999};
    };
    // ReadAt: two reads append, the second after the first's bytes.
    const int fd = ::memfd_create("driver_policy", MFD_CLOEXEC);
    ASSERT_EQ(::write(fd, "0123456789", 10), 10);
    auto buf = TypeParam::Make();
    ASSERT_TRUE(d->push(driver::ReadAt{fd, buf, 6}, 1).ok());
    EXPECT_EQ(drain_one().result, 4);
    EXPECT_EQ(Filled(buf), "6789");
    ASSERT_TRUE(d->push(driver::ReadAt{fd, buf, 0}, 2).ok());
    const Completion second = drain_one();
    EXPECT_GT(second.result, 0);
    EXPECT_EQ(Filled(buf), "6789" + std::string("0123456789").substr(0, second.result));
    ::close(fd);
    // Recv the same way.
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_TRUE(d->attach(sv[0]).ok());
    auto rbuf = TypeParam::Make();
    ASSERT_EQ(::write(sv[1], "abc", 3), 3);
    ASSERT_TRUE(d->push(driver::Recv{sv[0], rbuf}, 3).ok());
    EXPECT_EQ(drain_one().result, 3);
    ASSERT_EQ(::write(sv[1], "de", 2), 2);
    ASSERT_TRUE(d->push(driver::Recv{sv[0], rbuf}, 4).ok());
    EXPECT_EQ(drain_one().result, 2);
    EXPECT_EQ(Filled(rbuf), "abcde");
    ASSERT_TRUE(d->detach(sv[0]).ok());
    ::close(sv[0]);
    ::close(sv[1]);
  }
}

TEST_P(DriverTest, PooledIsPreparedAtPushOnUringAndOnlyWhenReadyOnEpoll) {
  int a, b;
  Pair(&a, &b);
  Pooled buf;
  ASSERT_EQ(buf.capacity(), 0u);
  ASSERT_TRUE(driver_->push(driver::Recv{a, buf}, 1).ok());
  if (uring()) {
    EXPECT_GT(buf.capacity(), 0u);  // the kernel was handed the block at push
  } else {
    EXPECT_EQ(buf.capacity(), 0u);  // nothing runs before submit_and_wait
  }
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  if (uring()) {
    EXPECT_GT(buf.capacity(), 0u);
  } else {
    EXPECT_EQ(buf.capacity(), 0u);  // parked, not ready: no memory held
  }
  ASSERT_EQ(::write(b, "data", 4), 4);
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 4);
  EXPECT_EQ(Filled(buf), "data");
  // On epoll, a stream drained by a short read is not ready: the next
  // Pooled Recv parks without taking a block.
  Pooled next;
  ASSERT_TRUE(driver_->push(driver::Recv{a, next}, 2).ok());
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  EXPECT_EQ(next.capacity() > 0, uring());
  ASSERT_TRUE(driver_->cancel(2).ok());
  EXPECT_EQ(Drain(1).size(), 1u);
  EXPECT_EQ(next.capacity(), 0u);  // a cancelled read gives its block back
}

// --- bad input ---

TEST_P(DriverTest, KernelErrorsCompleteWithMinusErrno) {
  Uninit a(8);
  ASSERT_TRUE(driver_->push(driver::ReadAt{ClosedFd(), a, 0}, 9).ok());
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, -EBADF);
  EXPECT_EQ(a.filled_size(), 0u);
  // A read into a buffer with no room left.
  const int fd = File("ab");
  Uninit one(1);
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, one, 0}, 10).ok());
  EXPECT_EQ(Only(1, 10).result, 1);
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, one, 1}, 11).ok());
  EXPECT_EQ(Only(1, 11).result, -ENOBUFS);
  EXPECT_EQ(Filled(one), "a");
}

TEST_P(DriverTest, BadInputIsAStatus) {
  Uninit buf(8);
  const std::string msg = "x";
  absl::Status s = driver_->push(driver::ReadAt{-1, buf, 0}, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("ReadAt on fd -1"), std::string::npos) << s;
  EXPECT_EQ(driver_->push(driver::WriteAt{-3, Bytes(msg), 0}, 1).code(),
            absl::StatusCode::kInvalidArgument);
  // Socket operations on an fd that was never attached.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Track(sv[0]);
  Track(sv[1]);
  s = driver_->push(driver::Recv{sv[0], buf}, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("Driver::attach"), std::string::npos) << s;
  EXPECT_EQ(driver_->push(driver::Send{sv[0], Bytes(msg)}, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(driver_->push(driver::PollReadable{sv[0]}, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(driver_->push(driver::Accept{sv[0]}, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(driver_->free_entries(), driver_->capacity());  // none took an entry
  // attach, detach, cancel.
  EXPECT_EQ(driver_->attach(-1).code(), absl::StatusCode::kInvalidArgument);
  s = driver_->attach(ClosedFd());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Driver::attach"), std::string::npos) << s;
  EXPECT_EQ(driver_->detach(sv[0]).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(driver_->cancel(42).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(driver_->attach(sv[0]).ok());
  EXPECT_EQ(driver_->attach(sv[0]).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(driver_->push(driver::Recv{sv[0], buf}, 7).ok());
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now(), out), 0u);
  s = driver_->detach(sv[0]);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ASSERT_TRUE(driver_->cancel(7).ok());
  EXPECT_EQ(Drain(1).size(), 1u);
  EXPECT_TRUE(driver_->detach(sv[0]).ok());
}

// --- the queue ---

TEST_P(DriverTest, FullQueueIsResourceExhaustedAndAllocatesNothing) {
  int a, b;
  Pair(&a, &b);
  for (std::uint64_t i = 0; i < driver_->capacity(); ++i) {
    ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), i).ok());
  }
  EXPECT_EQ(driver_->free_entries(), 0u);
  Uninit buf(8);
  const std::string msg = "x";
  const driver::Timeout later = driver::Timeout::After(absl::Hours(1));
  const std::vector<driver::Entry> batch = {{later, 98}};
  const long before = g_allocations.load();
  bool all_exhausted = true;
  for (int i = 0; i < 100; ++i) {
    all_exhausted &= driver_->push(later, 99).code() == absl::StatusCode::kResourceExhausted;
    all_exhausted &= driver_->push(driver::Recv{a, buf}, 99).code() ==
                     absl::StatusCode::kResourceExhausted;
    all_exhausted &= driver_->push(driver::Send{b, Bytes(msg)}, 99).code() ==
                     absl::StatusCode::kResourceExhausted;
    all_exhausted &= driver_->push_batch(batch).code() == absl::StatusCode::kResourceExhausted;
  }
  const long after = g_allocations.load();
  EXPECT_TRUE(all_exhausted);
  EXPECT_EQ(after, before);
  const absl::Status full = driver_->push(later, 99);
  EXPECT_NE(full.message().find("reap completions"), std::string::npos) << full;
  // Reaping frees entries again.
  EXPECT_TRUE(driver_->cancel(3).ok());
  std::vector<Completion> c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].user_data, 3u);
  EXPECT_EQ(c[0].result, -ECANCELED);
  EXPECT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 100).ok());
}

TEST_P(DriverTest, PushBatchIsAllOrNothing) {
  std::vector<driver::Entry> batch;
  for (std::uint64_t i = 0; i < 10; ++i) {
    batch.push_back(driver::Entry{driver::Timeout::After(absl::Milliseconds(1)), i});
  }
  ASSERT_TRUE(driver_->push_batch(batch).ok());
  EXPECT_EQ(driver_->free_entries(), 6u);
  EXPECT_EQ(driver_->push_batch(batch).code(),  // 10 > 6: none queued
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(driver_->free_entries(), 6u);
  std::vector<Completion> c = Drain(10);
  ASSERT_EQ(c.size(), 10u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ETIME);
  EXPECT_EQ(driver_->free_entries(), 16u);
  EXPECT_TRUE(driver_->push_batch(std::span(batch).first(6)).ok());
  EXPECT_EQ(Drain(6).size(), 6u);
  // One bad entry: none is queued.
  Uninit buf(8);
  std::vector<driver::Entry> bad = {{driver::Timeout::After(absl::Milliseconds(1)), 1},
                                    {driver::Recv{12345, buf}, 2},  // not attached
                                    {driver::Timeout::After(absl::Milliseconds(1)), 3}};
  EXPECT_EQ(driver_->push_batch(bad).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(driver_->free_entries(), 16u);
  Completion out[4];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(20)), out), 0u);
}

TEST_P(DriverTest, CompletionsBeyondTheSpanWaitForTheNextCall) {
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(driver_->push(driver::Timeout{BootClock::now()}, i).ok());
  }
  Completion out[2];
  std::size_t total = 0;
  const auto give_up = In(absl::Seconds(5));
  while (total < 5 && BootClock::now() < give_up) {
    const std::size_t n = driver_->submit_and_wait(give_up, out);
    EXPECT_LE(n, 2u);
    total += n;
  }
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(driver_->free_entries(), driver_->capacity());
}

// --- one kernel entry ---

TEST_P(DriverTest, SubmitAndWaitIsOneIoUringEnter) {
  if (!uring()) GTEST_SKIP() << "io_uring only";
  absl::StatusOr<bench::SyscallCounter> enters = bench::SyscallCounter::Attach(
      {static_cast<pid_t>(::syscall(SYS_gettid))}, "syscalls/sys_enter_io_uring_enter");
  if (!enters.ok()) GTEST_SKIP() << "cannot count syscalls here: " << enters.status();
  const int fd = File(std::string(8 * 512, 'r'));
  std::vector<Uninit> bufs;
  for (int i = 0; i < 8; ++i) bufs.emplace_back(512);
  std::vector<driver::Entry> batch;
  for (std::size_t i = 0; i < 8; ++i) batch.push_back({driver::ReadAt{fd, bufs[i], i * 512}, i});
  const std::uint64_t before = enters->Read();
  ASSERT_TRUE(driver_->push_batch(batch).ok());
  EXPECT_EQ(enters->Read(), before);  // push writes SQEs only
  Completion out[8];
  const std::size_t n = driver_->submit_and_wait(std::nullopt, out);
  EXPECT_EQ(enters->Read(), before + 1);  // submit and wait: one enter
  EXPECT_GE(n, 1u);
  EXPECT_EQ(Drain(8 - n).size(), 8 - n);
}

// --- cancellation ---

TEST_P(DriverTest, CancelledRecvLeavesItsBufferUntouched) {
  int a, b;
  Pair(&a, &b);
  Uninit plain(32);
  Pooled pooled;
  ASSERT_TRUE(driver_->push(driver::Recv{a, plain}, 7).ok());
  ASSERT_TRUE(driver_->push(driver::Recv{a, pooled}, 8).ok());
  Completion out[2];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  EXPECT_TRUE(driver_->cancel(7).ok());
  EXPECT_TRUE(driver_->cancel(8).ok());
  EXPECT_EQ(driver_->cancel(12345).code(), absl::StatusCode::kNotFound);
  std::vector<Completion> c = Drain(2);
  ASSERT_EQ(c.size(), 2u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ECANCELED) << x.user_data;
  EXPECT_EQ(plain.filled_size(), 0u);
  EXPECT_EQ(pooled.filled_size(), 0u);
  EXPECT_EQ(pooled.capacity(), 0u);  // the block went back
  EXPECT_EQ(driver_->cancel(7).code(), absl::StatusCode::kNotFound);  // reaped
  // The fd still works afterwards.
  ASSERT_EQ(::write(b, "after", 5), 5);
  ASSERT_TRUE(driver_->push(driver::Recv{a, plain}, 9).ok());
  c = Drain(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(Filled(plain), "after");
}

TEST_P(DriverTest, CancelReachesEveryOperationWithTheTag) {
  SocketAddress addr;
  const int l = Listener(&addr);
  int a, b;
  Pair(&a, &b);
  ASSERT_TRUE(driver_->push(driver::Accept{l}, 5).ok());
  ASSERT_TRUE(driver_->push(driver::PollReadable{a}, 5).ok());
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 5).ok());
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 6).ok());
  Completion out[4];
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(10)), out), 0u);
  ASSERT_TRUE(driver_->cancel(5).ok());
  std::vector<Completion> c = Drain(3);
  ASSERT_EQ(c.size(), 3u);
  for (const Completion& x : c) {
    EXPECT_EQ(x.user_data, 5u);
    EXPECT_EQ(x.result, -ECANCELED);
  }
  EXPECT_EQ(driver_->free_entries(), driver_->capacity() - 1);  // tag 6 waits on
}

// --- time ---

TEST_P(DriverTest, TimeoutCompletesWithEtimeOnTheBootClock) {
  // Deadlines are BootClock (CLOCK_BOOTTIME) time points: io_uring gets
  // IORING_TIMEOUT_BOOTTIME | ABS, epoll compares with the boot clock.
  const auto start = BootClock::now();
  ASSERT_TRUE(driver_->push(driver::Timeout{start + std::chrono::milliseconds(50)}, 1).ok());
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Milliseconds(10)), 2).ok());
  ASSERT_TRUE(driver_->push(driver::Timeout{start - std::chrono::seconds(1)}, 3).ok());
  std::vector<Completion> c = Drain(3);
  const auto took = BootClock::now() - start;
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].user_data, 3u);  // already passed
  EXPECT_EQ(c[1].user_data, 2u);  // the earlier deadline first
  EXPECT_EQ(c[2].user_data, 1u);
  for (const Completion& x : c) EXPECT_EQ(x.result, -ETIME);
  EXPECT_GE(took, std::chrono::milliseconds(50));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_P(DriverTest, DeadlineReturnsNoCompletionsWhenItPasses) {
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Seconds(30)), 1).ok());
  Completion out[4];
  auto start = BootClock::now();
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Milliseconds(40)), out), 0u);
  EXPECT_GE(BootClock::now() - start, std::chrono::milliseconds(40));
  EXPECT_LT(BootClock::now() - start, std::chrono::seconds(2));
  // A deadline in the past polls: back at once.
  start = BootClock::now();
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now() - std::chrono::seconds(1), out), 0u);
  EXPECT_LT(BootClock::now() - start, std::chrono::milliseconds(500));  // a busy machine
  // Nothing in flight and no deadline: nothing to wait for.
  EXPECT_TRUE(driver_->cancel(1).ok());
  EXPECT_EQ(Drain(1).size(), 1u);
  EXPECT_EQ(driver_->submit_and_wait(std::nullopt, out), 0u);
}

// --- teardown ---

TEST_P(DriverTest, DestroyingTheDriverWithEveryKindInFlightReturnsAndLeaksNothing) {
  driver_.reset();
  const int fds_before = testing_io::CountOpenFds();
  SetUp();  // a new driver, counted in fds_before's difference no more
  SocketAddress addr;
  const int l = Listener(&addr);
  int a, b;
  Pair(&a, &b);
  // A connection whose Accept completes but is never reaped: the driver
  // closes the fd it was given.
  const int client = Track(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client, addr.sockaddr_ptr(), addr.length()), 0);
  ASSERT_TRUE(driver_->push(driver::Accept{l}, 1).ok());
  // Returns once it completed (the connection is queued): nothing is reaped.
  EXPECT_EQ(driver_->submit_and_wait(In(absl::Seconds(5)), std::span<Completion>()), 0u);
  // Then one of every kind that waits.
  Pooled pooled;
  Uninit plain(16);
  ASSERT_TRUE(driver_->push(driver::Recv{a, pooled}, 2).ok());
  ASSERT_TRUE(driver_->push(driver::Recv{a, plain}, 3).ok());
  ASSERT_TRUE(driver_->push(driver::Accept{l}, 4).ok());
  ASSERT_TRUE(driver_->push(driver::PollReadable{b}, 5).ok());
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Hours(1)), 6).ok());
  EXPECT_EQ(driver_->submit_and_wait(BootClock::now(), std::span<Completion>()), 0u);
  const auto start = BootClock::now();
  driver_.reset();  // returns only after all ended
  EXPECT_LT(BootClock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(pooled.capacity(), 0u);
  EXPECT_EQ(plain.filled_size(), 0u);
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
}

#ifndef NDEBUG
TEST_P(DriverTest, DebugChecksCatchAMovedReadBufAndAnotherThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::thread t([&] { (void)driver_->push(driver::Timeout::After(absl::Hours(1)), 1); });
        t.join();
      },
      "thread that created it");
  if (!uring()) return;  // epoll reads run inside submit_and_wait: nothing to move
  const int fd = File("moved");
  Uninit a(8), b(8);
  ASSERT_TRUE(driver_->push(driver::ReadAt{fd, a, 0}, 1).ok());
  std::swap(a, b);  // both alive: the kernel writes into what is now b
  EXPECT_DEATH((void)Drain(1), "moved or changed");
  std::swap(a, b);  // back in place before this process reaps it
  EXPECT_EQ(Only(1, 1).result, 5);
  EXPECT_EQ(Filled(a), "moved");
}
#endif

// --- beside a runtime ---

TEST_P(DriverTest, WorksBesideARuntimeOnTheSameThread) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  ASSERT_TRUE(driver_->push(driver::Timeout::After(absl::Milliseconds(1)), 1).ok());
  // block_on wakes the core from this thread: that wake must not wait for
  // the driver's ring to enter.
  absl::StatusOr<int> v = rt.block_on([]() -> Task<int> { co_return 42; }());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 42);
  // Not on a core's thread: the core has its loop.
  absl::StatusOr<absl::StatusCode> on_core = rt.block_on([]() -> Task<absl::StatusCode> {
    co_return Driver::Create().status().code();
  }());
  ASSERT_TRUE(on_core.ok()) << on_core.status();
  EXPECT_EQ(*on_core, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Drain(1).size(), 1u);
}

TEST(DriverOptionsTest, EntriesAreValidated) {
  EXPECT_EQ(Driver::Create(DriverOptions{.entries = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Driver::Create(DriverOptions{.entries = 65537}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, DriverTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
