// The README's example, compiled and run over every policy, so the README
// cannot drift from the code.
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"

namespace {

// --- As in README.md ---
template <readbuf::ReadBuf Buf>
absl::StatusOr<size_t> ReadOnce(int fd, Buf& buf) {
  if (auto s = readbuf::read_buf_traits<Buf>::prepare(buf, 0); !s.ok()) return s;
  readbuf::UninitSpan dst = buf.unfilled();       // write-only: may be uninitialized
  ssize_t n = ::read(fd, dst.write_ptr(), dst.size());
  if (n < 0) return absl::ErrnoToStatus(errno, "read");
  buf.advance(static_cast<size_t>(n));            // filled <= initialized <= capacity
  return static_cast<size_t>(n);
}
// ---

template <class Buf>
std::string ReadThroughPipe(Buf buf, const std::string& message) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  EXPECT_EQ(::write(fds[1], message.data(), message.size()),
            static_cast<ssize_t>(message.size()));
  std::string out;
  while (out.size() < message.size()) {
    absl::StatusOr<size_t> n = ReadOnce(fds[0], buf);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    readbuf::for_each_filled(buf, [&](std::span<const std::byte> s) {
      out.append(reinterpret_cast<const char*>(s.data()), s.size());
    });
    buf.clear();
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return out;
}

TEST(ReadmeExampleTest, RunsWithEveryPolicy) {
  const std::string message(10000, 'r');
  EXPECT_EQ(ReadThroughPipe(readbuf::Uninit(64 * 1024), message), message);
  EXPECT_EQ(ReadThroughPipe(readbuf::Zeroed(4096), message), message);
  EXPECT_EQ(ReadThroughPipe(readbuf::Vectored<4>(4096), message), message);
  EXPECT_EQ(ReadThroughPipe(readbuf::Dyn(1000), message), message);
  EXPECT_EQ(ReadThroughPipe(readbuf::Pooled(), message), message);
}

TEST(ReadmeExampleTest, ReportsErrorsAsStatus) {
  readbuf::Uninit buf(16);
  absl::StatusOr<size_t> n = ReadOnce(-1, buf);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition);  // EBADF
}

}  // namespace
