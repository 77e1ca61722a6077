#include "io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/kernel_op.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class FileTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/readbuf_file_test_" +
            std::to_string(::getpid());
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    std::string content;
    for (int i = 0; i < 10000; ++i) content.push_back(static_cast<char>('a' + i % 26));
    ASSERT_EQ(::write(fd, content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  std::string path_;
};

Task<absl::StatusOr<std::string>> ReadAt(File* f, std::size_t n, std::uint64_t off) {
  std::string out(n, '\0');
  absl::StatusOr<std::size_t> got = co_await f->read_at(
      std::as_writable_bytes(std::span<char>(out.data(), out.size())), off);
  if (!got.ok()) co_return got.status();
  out.resize(*got);
  co_return out;
}

TEST_P(FileTest, ReadAtOffsetsAndEof) {
  absl::StatusOr<File> f = File::open(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->size(), 10000u);
  EXPECT_GE(::fcntl(f->fd(), F_GETFD) & FD_CLOEXEC, 1);
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<std::string> a = rt.block_on(ReadAt(&*f, 5, 0));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "abcde");
  absl::StatusOr<std::string> b = rt.block_on(ReadAt(&*f, 4, 26 * 100 + 24));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "yzab");
  absl::StatusOr<std::string> tail = rt.block_on(ReadAt(&*f, 100, 9990));
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 10u);  // short read at the end
  absl::StatusOr<std::string> eof = rt.block_on(ReadAt(&*f, 100, 10000));
  ASSERT_TRUE(eof.ok());
  EXPECT_TRUE(eof->empty());  // EOF is a value, not an error
}

TEST_P(FileTest, OpenErrorNamesThePath) {
  absl::StatusOr<File> f = File::open(path_ + ".missing");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(f.status().message(), path_ + ".missing"))
      << f.status();
}

TEST_P(FileTest, ReadErrorIsStatus) {
  // A directory opens but cannot be read.
  absl::StatusOr<File> d = File::open(::testing::TempDir(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(d.ok()) << d.status();
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<std::string> r = rt.block_on(ReadAt(&*d, 10, 0));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "read(fd=")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset=0")) << r.status();
}

io_internal::KernelOpStats ThisCoreKernelOpStats() {
  io_internal::KernelOpStats st;
  io_internal::CurrentCore()->backend()->GetKernelOpStats(&st);
  return st;
}

io_internal::KernelOpStats StatsOf(Runtime& rt) {
  absl::StatusOr<io_internal::KernelOpStats> st =
      rt.block_on([]() -> Task<io_internal::KernelOpStats> { co_return ThisCoreKernelOpStats(); }());
  READBUF_CHECK(st.ok(), "stats task failed");
  return *st;
}

// Many concurrent reads on one core; returns every read's bytes in order.
Task<std::vector<std::string>> ReadManyConcurrently(File* f, int n) {
  std::vector<JoinHandle<absl::StatusOr<std::string>>> reads;
  for (int i = 0; i < n; ++i) reads.push_back(spawn(ReadAt(f, 26, static_cast<std::uint64_t>(i))));
  std::vector<std::string> out;
  for (auto& h : reads) {
    auto r = co_await h;
    out.push_back(r.ok() ? *r : std::string("error"));
  }
  co_return out;
}

TEST_P(FileTest, ReadsBeyondTheOpSlotsWaitForOne) {
  absl::StatusOr<File> f = File::open(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam(), .kernel_op_slots = 2});
  const io_internal::KernelOpStats before = StatsOf(rt);
  absl::StatusOr<std::vector<std::string>> all = rt.block_on(ReadManyConcurrently(&*f, 40));
  ASSERT_TRUE(all.ok()) << all.status();
  const std::vector<std::string>& got = *all;
  ASSERT_EQ(got.size(), 40u);
  std::string expected;
  for (int i = 0; i < 26 + 40; ++i) expected.push_back(static_cast<char>('a' + i % 26));
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[i], expected.substr(i, 26)) << "read " << i;
  const io_internal::KernelOpStats after = StatsOf(rt);
  if (rt.backend_name() == std::string("io_uring")) {
    EXPECT_EQ(after.slots, 2u);
    EXPECT_EQ(after.started - before.started, 40u);  // every read went to the kernel
    EXPECT_GT(after.waited_for_slot, 0u);            // and some waited for a slot
    EXPECT_EQ(after.in_flight, 0u);
    EXPECT_EQ(after.queued, 0u);
  } else {
    EXPECT_EQ(after.started, 0u);  // epoll: plain pread
  }
}

Task<absl::StatusOr<std::string>> ReadFifoForever(File* f) {
  co_return co_await ReadAt(f, 16, 0);
}

TEST_P(FileTest, CancellingAReadInTheKernelReleasesEverything) {
  // A FIFO read blocks in the kernel until data arrives: the task stays
  // pinned while the op is in flight and is destroyed once it is cancelled.
  const std::string fifo = path_ + ".fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  {
    absl::StatusOr<File> f = File::open(fifo, O_RDWR);  // O_RDWR: open does not block
    ASSERT_TRUE(f.ok()) << f.status();
    const int fds_before = testing_io::CountOpenFds();
    {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    if (rt.backend_name() != std::string("io_uring")) {
      ::unlink(fifo.c_str());
      GTEST_SKIP() << "epoll reads a FIFO with pread on the core thread (blocking)";
    }
    JoinHandle<absl::StatusOr<std::string>> h = rt.spawn(ReadFifoForever(&*f));
    for (int i = 0; i < 200; ++i) {
      io_internal::KernelOpStats st = StatsOf(rt);
      if (st.in_flight == 1) break;
      ::usleep(5000);
    }
    h.cancel();
    (void)rt.block_on([](JoinHandle<absl::StatusOr<std::string>> h) -> Task<bool> {
      auto r = co_await h;
      EXPECT_FALSE(r.ok()) << "the cancelled read should report Cancelled";
      co_return true;
    }(std::move(h)));
    io_internal::KernelOpStats st = StatsOf(rt);
    EXPECT_EQ(st.in_flight, 0u);
    EXPECT_GE(st.cancels, 1u);
    }
    EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
  }
  ::unlink(fifo.c_str());
}

struct QueuedReadOutcome {
  absl::StatusOr<std::string> read;
  bool number_reused = false;  // the new file took the closed one's fd
};

// One op slot, held by a FIFO read. A read of `path` queued behind it loses
// its file (closed here), a new file takes the fd number, then the slot
// frees: the queued read must end with an error, not read the new file.
Task<QueuedReadOutcome> CloseWhileAReadWaitsForASlot(File* fifo, int fifo_writer,
                                                     std::string path, std::string other) {
  JoinHandle<absl::StatusOr<std::string>> holder = spawn(ReadAt(fifo, 1, 0));
  while (ThisCoreKernelOpStats().in_flight == 0) co_await yield_now();
  absl::StatusOr<File> f = File::open(path);
  if (!f.ok()) co_return QueuedReadOutcome{f.status()};
  JoinHandle<absl::StatusOr<std::string>> queued = spawn(ReadAt(&*f, 5, 0));
  while (ThisCoreKernelOpStats().queued == 0) co_await yield_now();
  const int old_fd = f->fd();
  f->close();
  absl::StatusOr<File> g = File::open(other);
  if (!g.ok()) co_return QueuedReadOutcome{g.status()};
  QueuedReadOutcome out;
  out.number_reused = g->fd() == old_fd;
  const char x = 'x';
  if (::write(fifo_writer, &x, 1) != 1) co_return QueuedReadOutcome{absl::InternalError("fifo")};
  out.read = co_await queued;
  (void)co_await holder;
  co_return out;
}

TEST_P(FileTest, ClosingAFileEndsAReadQueuedForAnOpSlot) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam(), .kernel_op_slots = 1});
  if (rt.backend_name() != std::string("io_uring")) {
    GTEST_SKIP() << "epoll reads with pread(2): no op slots to wait for";
  }
  const std::string fifo = path_ + ".slot.fifo";
  const std::string other = path_ + ".other";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int o = ::open(other.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(o, 0);
  ASSERT_EQ(::write(o, "OTHER", 5), 5);
  ::close(o);
  absl::StatusOr<File> f = File::open(fifo, O_RDWR);
  ASSERT_TRUE(f.ok()) << f.status();
  const int writer = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  absl::StatusOr<QueuedReadOutcome> r =
      rt.block_on(CloseWhileAReadWaitsForASlot(&*f, writer, path_, other));
  ::close(writer);
  ::unlink(fifo.c_str());
  ::unlink(other.c_str());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->number_reused) << "the test needs the fd number taken again";
  ASSERT_FALSE(r->read.ok()) << "read " << *r->read << " from the file that took its number";
  EXPECT_TRUE(absl::IsCancelled(r->read.status())) << r->read.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, FileTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
