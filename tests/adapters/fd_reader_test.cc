// Tests for adapters/fd_reader.h: real pipes (blocking and non-blocking),
// EOF, error mapping with the errno kept, and the syscall seam with injected
// EINTR / EAGAIN / short reads / EIO.
#include "adapters/fd_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"

namespace readbuf {
namespace {

using ::readbuf::adapters_internal::ErrnoOf;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultSyscalls;
using ::readbuf::testing::RandomBytes;

static_assert(SpanReader<FdReader> && BufReader<FdReader> &&
              VectoredReader<FdReader> && TryReader<FdReader> &&
              !OwnedReader<FdReader>);

class Pipe {
 public:
  explicit Pipe(bool nonblocking = false) {
    EXPECT_EQ(::pipe2(fds_, nonblocking ? O_NONBLOCK : 0), 0);
  }
  ~Pipe() {
    CloseWrite();
    ::close(fds_[0]);
  }
  int read_fd() const { return fds_[0]; }
  void Write(const std::string& s) {
    ASSERT_EQ(::write(fds_[1], s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void CloseWrite() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(FdReaderTest, ReadsIntoUninitializedMemoryWithoutZeroing) {
  Pipe pipe;
  pipe.Write("hello");
  FdReader reader(pipe.read_fd());
  Uninit buf(64);
  EXPECT_EQ(*reader.read_buf(buf), 5u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.filled().data()), 5),
            "hello");
}

TEST(FdReaderTest, VectoredBufferIsOneReadv) {
  Pipe pipe;
  pipe.Write("0123456789");
  FdReader reader(pipe.read_fd());
  Vectored<3> buf({2, 3, 10});
  EXPECT_EQ(*reader.read_buf(buf), 10u);
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  EXPECT_EQ(out, "0123456789");
}

TEST(FdReaderTest, EofIsZeroBytes) {
  Pipe pipe;
  pipe.Write("ab");
  pipe.CloseWrite();
  FdReader reader(pipe.read_fd());
  std::array<std::byte, 8> out;
  EXPECT_EQ(*reader.read(out), 2u);
  EXPECT_EQ(*reader.read(out), 0u);
}

TEST(FdReaderTest, NonBlockingFdGivesWouldBlock) {
  Pipe pipe(/*nonblocking=*/true);
  FdReader reader(pipe.read_fd());
  std::array<std::byte, 8> out;
  EXPECT_TRUE(IsWouldBlock(reader.read(out).status()));
  Uninit buf(8);
  EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
  pipe.Write("x");
  EXPECT_EQ(*reader.try_read(buf), 1u);
}

TEST(FdReaderTest, TryReadOnABlockingFdPollsInsteadOfBlocking) {
  Pipe pipe;
  FdReader reader(pipe.read_fd());
  Uninit buf(8);
  EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
  pipe.Write("abc");
  EXPECT_EQ(*reader.try_read(buf), 3u);
}

TEST(FdReaderTest, ErrorsCarryTheOperationTheFdAndTheErrno) {
  FdReader reader(-1);
  std::array<std::byte, 8> out;
  absl::Status s = reader.read(out).status();
  EXPECT_EQ(s.code(), absl::ErrnoToStatusCode(EBADF));
  EXPECT_NE(s.message().find("read(fd=-1)"), absl::string_view::npos);
  EXPECT_EQ(ErrnoOf(s), EBADF);
}

FaultOptions Faulty(uint64_t seed) {
  FaultOptions options;
  options.seed = seed;
  options.eintr_rate = 0.3;
  options.would_block_rate = 0.2;
  options.short_read_rate = 0.7;
  return options;
}

TEST(FdReaderTest, EintrIsRetriedAndInvisible) {
  const std::string data = RandomBytes(40000, 3);
  BasicFdReader<FaultSyscalls> reader(7, FaultSyscalls(data, Faulty(3)));
  Vectored<4> buf(2000);
  testing::DrainResult result = testing::DrainWithReadBuf(reader, buf);
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.bytes == data);
  EXPECT_GT(reader.syscalls().script().eintr_count(), 10);
}

TEST(FdReaderTest, EagainIsWouldBlockAndEioKeepsItsMeaning) {
  FaultOptions options = Faulty(4);
  options.error_at = 1000;
  BasicFdReader<FaultSyscalls> reader(7, FaultSyscalls(RandomBytes(5000, 4), options));
  testing::DrainResult result = testing::DrainWithRead(reader, 300);
  EXPECT_EQ(result.bytes.size(), 1000u);
  EXPECT_EQ(ErrnoOf(result.status), EIO);
  EXPECT_NE(result.status.message().find("read(fd=7)"), absl::string_view::npos);
}

TEST(FdReaderTest, TryReadOnABlockingFdPollsThroughTheSeam) {
  FaultOptions options = Faulty(5);
  FaultSyscalls sys(RandomBytes(20000, 5), options);
  sys.set_nonblocking(false);
  BasicFdReader<FaultSyscalls> reader(7, std::move(sys));
  Uninit buf(512);
  std::string out;
  int would_block = 0;
  for (int i = 0; i < 100000; ++i) {
    absl::StatusOr<size_t> n = reader.try_read(buf);
    if (!n.ok()) {
      ASSERT_TRUE(IsWouldBlock(n.status())) << n.status();
      ++would_block;
      continue;
    }
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.filled().data()), *n);
    buf.clear();
  }
  EXPECT_EQ(out, reader.syscalls().script().data());
  EXPECT_GT(would_block, 0);
}

}  // namespace
}  // namespace readbuf
