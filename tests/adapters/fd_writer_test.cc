// Tests for adapters/fd_writer.h: short writes, EINTR, EAGAIN and EPIPE
// through the syscall seam (every byte once, in order); real pipes and
// sockets, blocking and non-blocking; a closed reader is an EPIPE status,
// never a SIGPIPE death.
#include "adapters/fd_writer.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/writer_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/fault_writer.h"

namespace readbuf {
namespace {

using ::readbuf::adapters_internal::ErrnoOf;
using ::readbuf::testing::FaultWriteOptions;
using ::readbuf::testing::FaultWriteState;
using ::readbuf::testing::FaultWriteSyscalls;
using ::readbuf::testing::RandomBytes;
using FaultFdWriter = BasicFdWriter<FaultWriteSyscalls>;

static_assert(SpanWriter<FdWriter>);
static_assert(VectoredWriter<FdWriter>);
static_assert(is_write_vectored_v<FdWriter>);

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span(s));
}

// Splits `data` into iovecs of the given sizes (cycled), some of them empty.
std::vector<iovec> Split(const std::string& data, std::vector<size_t> sizes) {
  std::vector<iovec> iov;
  size_t at = 0;
  for (size_t i = 0; at < data.size(); ++i) {
    const size_t n = std::min(sizes[i % sizes.size()], data.size() - at);
    iov.push_back({const_cast<char*>(data.data()) + at, n});
    at += n;
  }
  return iov;
}

// Reads `fd` to EOF on another thread.
class Drainer {
 public:
  explicit Drainer(int fd) : thread_([this, fd] {
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n > 0) {
        got_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        return;
      }
    }
  }) {}
  std::string Join() {
    thread_.join();
    return got_;
  }

 private:
  std::string got_;
  std::thread thread_;
};

TEST(FdWriterTest, WriteAllDeliversEveryByteOnceThroughShortWritesAndEintr) {
  const std::string data = RandomBytes(300000, 11);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    FaultWriteState state;
    FaultWriteOptions options;
    options.seed = seed;
    options.eintr_rate = 0.2;
    FaultFdWriter writer(3, FaultWriteSyscalls(&state, options));
    ASSERT_TRUE(writer.write_all(Bytes(data)).ok()) << seed;
    EXPECT_TRUE(state.sink == data) << seed;
    EXPECT_EQ(state.waits, 0u);
  }
}

TEST(FdWriterTest, WritevAllCrossesIovecBoundariesInOrder) {
  const std::string data = RandomBytes(200000, 12);
  const std::vector<iovec> iov = Split(data, {0, 1, 700, 0, 5000, 3});
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    FaultWriteState state;
    FaultWriteOptions options;
    options.seed = seed;
    options.eintr_rate = 0.1;
    FaultFdWriter writer(3, FaultWriteSyscalls(&state, options));
    ASSERT_TRUE(writer.writev_all(iov).ok()) << seed;
    EXPECT_TRUE(state.sink == data) << seed;
  }
}

TEST(FdWriterTest, NonBlockingWriteGivesWouldBlockAndWriteAllWaits) {
  const std::string data = RandomBytes(100000, 13);
  FaultWriteState state;
  FaultWriteOptions options;
  options.nonblocking = true;
  options.eagain_rate = 0.3;
  FaultFdWriter writer(3, FaultWriteSyscalls(&state, options));
  // One call: EAGAIN is WouldBlockError(), never a plain error.
  size_t would_block = 0;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<size_t> n = writer.write(Bytes(data).first(10));
    if (!n.ok()) {
      EXPECT_TRUE(IsWouldBlock(n.status())) << n.status();
      ++would_block;
      FaultWriteSyscalls(&state, options).wait_writable(3);
    }
  }
  EXPECT_GT(would_block, 0u);
  // write_all waits for room instead, and finishes.
  state = FaultWriteState();
  std::string expected;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(writer.write_all(Bytes(data)).ok());
    expected += data;
  }
  EXPECT_TRUE(state.sink == expected);
  EXPECT_GT(state.waits, 0u);
}

TEST(FdWriterTest, EpipeIsAClearStatusWithTheErrno) {
  const std::string data = RandomBytes(10000, 14);
  FaultWriteState state;
  FaultWriteOptions options;
  options.epipe_at = 4000;
  FaultFdWriter writer(7, FaultWriteSyscalls(&state, options));
  absl::Status s = writer.write_all(Bytes(data));
  EXPECT_EQ(s.code(), absl::ErrnoToStatus(EPIPE, "").code());
  EXPECT_NE(s.message().find("write(fd=7)"), std::string::npos) << s;
  EXPECT_EQ(ErrnoOf(s), EPIPE);
  EXPECT_EQ(state.sink, data.substr(0, 4000));  // what went before, exactly
}

TEST(FdWriterTest, SocketsUseMsgNosignalAndLeaveSigpipeAlone) {
  const std::string data = RandomBytes(50000, 15);
  FaultWriteState state;
  FaultWriteOptions options;
  options.socket = true;
  FaultFdWriter writer(3, FaultWriteSyscalls(&state, options));
  ASSERT_TRUE(writer.write_all(Bytes(data.substr(0, 20000))).ok());
  ASSERT_TRUE(writer.writev_all(Split(data.substr(20000), {100, 3000})).ok());
  EXPECT_TRUE(state.sink == data);
  EXPECT_GT(state.socket_calls, 0u);
  EXPECT_EQ(state.socket_calls, state.calls);
  EXPECT_EQ(state.flagless_socket_calls, 0u);
  EXPECT_EQ(state.sigpipe_ignores, 0u);
}

TEST(FdWriterTest, PipesMakeSigpipeHarmless) {
  FaultWriteState state;
  FaultFdWriter writer(3, FaultWriteSyscalls(&state, FaultWriteOptions()));
  EXPECT_EQ(state.sigpipe_ignores, 1u);
  EXPECT_EQ(state.socket_calls, 0u);
}

// --- Real fds ---

TEST(FdWriterTest, BlockingPipeWriteAllAndWritevAll) {
  const std::string data = RandomBytes(1 << 20, 16);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Drainer drainer(fds[0]);
  {
    FdWriter writer(fds[1]);
    EXPECT_FALSE(writer.is_socket());
    ASSERT_TRUE(writer.write_all(Bytes(data.substr(0, data.size() / 2))).ok());
    // More iovecs than IOV_MAX: writev takes at most IOV_MAX per call.
    const std::string rest = data.substr(data.size() / 2);
    ASSERT_TRUE(writer.writev_all(Split(rest, {1, 2, 0, 3})).ok());
  }
  ::close(fds[1]);
  EXPECT_TRUE(drainer.Join() == data);
  ::close(fds[0]);
}

TEST(FdWriterTest, NonBlockingPipeFillsUpThenWriteAllWaitsForTheReader) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  FdWriter writer(fds[1]);
  const std::string chunk(65536, 'x');
  size_t written = 0;
  absl::Status full;
  for (int i = 0; i < 100 && full.ok(); ++i) {
    absl::StatusOr<size_t> n = writer.write(Bytes(chunk));
    if (n.ok()) {
      written += *n;
    } else {
      full = n.status();
    }
  }
  EXPECT_TRUE(IsWouldBlock(full)) << full;
  // A reader drains; write_all on the full pipe waits rather than fail.
  const std::string data = RandomBytes(1 << 20, 17);
  ASSERT_EQ(::fcntl(fds[0], F_SETFL, 0), 0);  // the reader's end blocks
  Drainer drainer(fds[0]);
  ASSERT_TRUE(writer.write_all(Bytes(data)).ok());
  ::close(fds[1]);
  const std::string got = drainer.Join();
  ASSERT_EQ(got.size(), written + data.size());
  EXPECT_TRUE(got.substr(written) == data);
  ::close(fds[0]);
}

// Child bodies for the death-style tests below: SIGPIPE at its default,
// so only FdWriter stands between the write and a SIGPIPE death. Exit code
// 0 = EPIPE status as expected.
[[noreturn]] void WriteToClosedPipe() {
  ::signal(SIGPIPE, SIG_DFL);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) std::_Exit(2);
  ::close(fds[0]);
  FdWriter writer(fds[1]);
  absl::Status s = writer.write_all(Bytes(std::string(100, 'a')));
  std::_Exit(ErrnoOf(s) == EPIPE ? 0 : 1);
}

[[noreturn]] void WriteToClosedSocket() {
  ::signal(SIGPIPE, SIG_DFL);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    std::_Exit(2);
  }
  ::close(fds[1]);
  FdWriter writer(fds[0]);
  if (!writer.is_socket()) std::_Exit(3);
  struct sigaction now;
  ::sigaction(SIGPIPE, nullptr, &now);
  if (now.sa_handler != SIG_DFL) std::_Exit(4);  // a socket leaves it alone
  const std::string data(100, 'a');
  absl::StatusOr<size_t> n = writer.write(Bytes(data));
  const iovec one{const_cast<char*>(data.data()), data.size()};
  absl::StatusOr<size_t> v = writer.writev(std::span<const iovec>(&one, 1));
  const bool epipe = !n.ok() && ErrnoOf(n.status()) == EPIPE && !v.ok() &&
                     ErrnoOf(v.status()) == EPIPE;
  std::_Exit(epipe ? 0 : 1);
}

TEST(FdWriterTest, ClosedPipeReaderIsEpipeNotADeadProcess) {
  EXPECT_EXIT(WriteToClosedPipe(), ::testing::ExitedWithCode(0), "");
}

TEST(FdWriterTest, ClosedSocketPeerIsEpipeAndSigpipeStaysDefault) {
  EXPECT_EXIT(WriteToClosedSocket(), ::testing::ExitedWithCode(0), "");
}

TEST(FdWriterTest, BadFdIsAnErrnoStatusNamingTheCall) {
  FdWriter writer(-1);
  absl::StatusOr<size_t> n = writer.write(Bytes(std::string("abc")));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(ErrnoOf(n.status()), EBADF);
  EXPECT_NE(n.status().message().find("write(fd=-1)"), std::string::npos);
}

}  // namespace
}  // namespace readbuf
