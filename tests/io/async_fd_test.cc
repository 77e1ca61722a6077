#include "io/async_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <memory>
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

using testing_io::CountOpenFds;

class AsyncFdTest : public testing_io::BackendSuite<2> {};

struct RawPipe {
  int r = -1;
  int w = -1;
  RawPipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
};

// Counts read() calls so the short-read shortcut is observable.
Task<int> ReadTwoMessages(AsyncFd* fd, std::atomic<int>* syscalls,
                          std::atomic<bool>* first_done) {
  char buf[64];
  int got = 0;
  while (got < 2) {
    if (absl::Status s = co_await fd->readable(); !s.ok()) co_return -1;
    syscalls->fetch_add(1);
    ssize_t n = ::read(fd->fd(), buf, sizeof(buf));
    if (n < 0 && errno == EAGAIN) {
      fd->mark_not_readable();
      continue;
    }
    if (n <= 0) co_return -1;
    if (static_cast<std::size_t>(n) < sizeof(buf)) fd->mark_drained();
    ++got;
    first_done->store(true);
  }
  co_return got;
}

TEST_P(AsyncFdTest, ShortReadMarksDrainedSoNextReadWaitsForEdge) {
  Runtime rt(Options(1));
  RawPipe p;
  AsyncFd fd(p.r);
  ASSERT_EQ(::write(p.w, "one", 3), 3);
  std::atomic<int> syscalls{0};
  std::atomic<bool> first_done{false};
  JoinHandle<int> h = rt.spawn(ReadTwoMessages(&fd, &syscalls, &first_done));
  while (!first_done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // After the short read the task waits for an edge: no read() hit EAGAIN.
  EXPECT_EQ(syscalls.load(), 1);
  ASSERT_EQ(::write(p.w, "two", 3), 3);
  absl::StatusOr<int> got = h.BlockingJoin();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2);
  EXPECT_EQ(syscalls.load(), 2);
  ::close(p.w);
}

Task<absl::Status> WaitReadable(AsyncFd* fd) {
  fd->mark_not_readable();
  co_return co_await fd->readable();
}

TEST_P(AsyncFdTest, HangupKeepsFdReadable) {
  Runtime rt(Options(1));
  RawPipe p;
  AsyncFd fd(p.r);
  JoinHandle<absl::Status> h = rt.spawn(WaitReadable(&fd));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(h.done());
  ::close(p.w);  // EPOLLHUP
  EXPECT_TRUE(h.BlockingJoin().ok());
  EXPECT_TRUE(rt.block_on([](AsyncFd* fd) -> Task<bool> {
    fd->mark_drained();  // ignored after hangup: EOF must stay visible
    co_return fd->hung_up() && fd->is_readable();
  }(&fd)).value());
}

TEST_P(AsyncFdTest, CancelledWaiterReleasesEverythingAndFdClosesOffCore) {
  Runtime rt(Options());
  const int baseline = CountOpenFds();  // the runtime's own fds included
  RawPipe p;
  {
    AsyncFd fd(p.r);
    JoinHandle<absl::Status> h = rt.spawn_on(1, WaitReadable(&fd));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    h.cancel();
    EXPECT_EQ(h.BlockingJoin().code(), absl::StatusCode::kCancelled);
    // `fd` is registered with core 1 and destroyed here, off-core: the close
    // is handed to core 1.
  }
  ::close(p.w);
  for (int i = 0; i < 1000 && CountOpenFds() != baseline; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(CountOpenFds(), baseline);
}

// Registers each fd with the current core: a readiness wait that times out.
Task<void> RegisterAll(std::vector<AsyncFd>* fds) {
  for (AsyncFd& fd : *fds) {
    fd.mark_not_readable();
    (void)co_await timeout(fd.readable(), absl::Microseconds(1));
  }
}

TEST_P(AsyncFdTest, ClosingFromAnotherThreadWhileTheCoreExitsClosesEachFdOnce) {
  // Another thread closes registered fds while their core exits: each close
  // either reaches the core or finds the fd orphaned and closes it itself.
  // Every fd is closed exactly once (the count) and freed once (ASan, TSan).
  constexpr int kRounds = 20;
  constexpr int kFds = 64;
  const int baseline = CountOpenFds();
  for (int round = 0; round < kRounds; ++round) {
    std::vector<int> write_ends;
    auto fds = std::make_unique<std::vector<AsyncFd>>();
    {
      Runtime rt(Options(1));
      for (int i = 0; i < kFds; ++i) {
        RawPipe p;
        fds->emplace_back(p.r);
        write_ends.push_back(p.w);
      }
      ASSERT_TRUE(rt.block_on(RegisterAll(fds.get())).ok());
      std::atomic<bool> go{false};
      std::thread closer([&] {
        while (!go.load()) {
        }
        fds.reset();  // each AsyncFd closes off-core
      });
      go.store(true);
      rt.Shutdown(absl::Milliseconds(10));
      closer.join();
    }
    for (int w : write_ends) ::close(w);
  }
  EXPECT_EQ(CountOpenFds(), baseline);
}

TEST_P(AsyncFdTest, MoveAndRelease) {
  RawPipe p;
  AsyncFd a(p.r);
  AsyncFd b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.fd(), p.r);
  b.close();
  EXPECT_FALSE(b.valid());
  EXPECT_EQ(::fcntl(p.r, F_GETFD), -1);  // closed
  ::close(p.w);
}

// A loop that retries EAGAIN without suspending (the bug a sticky "hangup"
// flag once caused) is caught in debug builds.
TEST(AsyncFdDeathTest, RetryingEagainInPlaceIsACheckFailureInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "the check is debug-only";
#else
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  AsyncFd fd(p[0]);
  EXPECT_DEATH(
      {
        for (int i = 0; i < 100; ++i) {
          char c;
          if (::read(fd.fd(), &c, 1) < 0 && errno == EAGAIN) fd.mark_not_readable();
        }
      },
      "EAGAINs on read without a suspension");
  ::close(p[1]);
#endif
}

INSTANTIATE_TEST_SUITE_P(Backends, AsyncFdTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
