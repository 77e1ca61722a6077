#include "io/pipe.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

class PipeTest : public testing_io::BackendSuite<2> {};

Task<absl::Status> WriteThenClose(PipeWriter* w, std::size_t n) {
  std::vector<std::byte> data(n);
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::byte>(i * 31);
  absl::Status s = co_await w->write_all(data);
  w->close();
  co_return s;
}

Task<absl::StatusOr<std::vector<std::byte>>> ReadToEof(PipeReader* r) {
  std::vector<std::byte> got;
  std::byte buf[3000];
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await r->read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return got;
    got.insert(got.end(), buf, buf + *n);
  }
}

TEST_P(PipeTest, LargeTransferAcrossCoresEndsWithEof) {
  Runtime rt(Options());
  absl::StatusOr<Pipe> p = Pipe::Create();
  ASSERT_TRUE(p.ok()) << p.status();
  constexpr std::size_t kN = 1 << 20;  // far beyond the 64 KiB pipe buffer
  JoinHandle<absl::StatusOr<std::vector<std::byte>>> r =
      rt.spawn_on(0, ReadToEof(&p->reader));
  JoinHandle<absl::Status> w = rt.spawn_on(1, WriteThenClose(&p->writer, kN));
  EXPECT_TRUE(w.BlockingJoin().ok());
  absl::StatusOr<std::vector<std::byte>> got = r.BlockingJoin();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), kN);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_EQ((*got)[i], static_cast<std::byte>(i * 31)) << i;
  }
}

Task<absl::Status> WriteToClosedReader(Pipe* p) {
  p->reader.close();
  std::string s = "x";
  co_return co_await p->writer.write_all(
      std::as_bytes(std::span<const char>(s.data(), s.size())));
}

TEST_P(PipeTest, WriteAfterReaderClosedIsEpipeNotSignal) {
  Runtime rt(Options(1));
  absl::StatusOr<Pipe> p = Pipe::Create();
  ASSERT_TRUE(p.ok());
  absl::Status s = rt.block_on(WriteToClosedReader(&*p));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "write(fd=")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "pipe")) << s;  // "Broken pipe"
}

Task<absl::StatusOr<std::string>> Vectored(Pipe* p) {
  char a[] = "abc";
  char b[] = "defg";
  iovec out[2] = {{a, 3}, {b, 4}};
  absl::StatusOr<std::size_t> w = co_await p->writer.writev(out);
  if (!w.ok()) co_return w.status();
  char x[2];
  char y[10];
  iovec in[2] = {{x, 2}, {y, 10}};
  absl::StatusOr<std::size_t> n = co_await p->reader.readv(in);
  if (!n.ok()) co_return n.status();
  if (*n != 7) co_return absl::InternalError("short readv");
  co_return std::string(x, 2) + std::string(y, 5);
}

TEST_P(PipeTest, ReadvWritev) {
  Runtime rt(Options(1));
  absl::StatusOr<Pipe> p = Pipe::Create();
  ASSERT_TRUE(p.ok());
  absl::StatusOr<std::string> s = rt.block_on(Vectored(&*p));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "abcdefg");
}

INSTANTIATE_TEST_SUITE_P(Backends, PipeTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
