#include "io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
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
  EXPECT_TRUE(absl::StrContains(r.status().message(), "pread(fd=")) << r.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, FileTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
