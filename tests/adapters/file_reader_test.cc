// Tests for adapters/file_reader.h: fread straight into uninitialized
// memory, segments filled in order, EOF, errors with the errno, would-block.
#include "adapters/file_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "adapters/internal/errno_status.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace {

static_assert(SpanReader<FileReader> && BufReader<FileReader> &&
              !VectoredReader<FileReader>);

TEST(FileReaderTest, ReadsIntoUninitializedMemoryAndFillsSegmentsInOrder) {
  std::string data = "0123456789abcdef";
  std::FILE* f = ::fmemopen(data.data(), data.size(), "rb");
  ASSERT_NE(f, nullptr);
  FileReader reader(f);
  Vectored<3> buf({4, 4, 100});
  EXPECT_EQ(*reader.read_buf(buf), 16u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  EXPECT_EQ(out, data);
  buf.clear();
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // EOF
  std::fclose(f);
}

TEST(FileReaderTest, ReadErrorsCarryTheErrno) {
  std::FILE* f = std::fopen("/dev/null", "w");  // not open for reading
  ASSERT_NE(f, nullptr);
  FileReader reader(f);
  std::array<std::byte, 8> out;
  absl::Status s = reader.read(out).status();
  EXPECT_EQ(adapters_internal::ErrnoOf(s), EBADF);
  EXPECT_NE(s.message().find("fread(FILE*)"), absl::string_view::npos);
  std::fclose(f);
}

TEST(FileReaderTest, NonBlockingFdGivesWouldBlockThenData) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  std::FILE* f = ::fdopen(fds[0], "rb");
  ASSERT_NE(f, nullptr);
  std::setvbuf(f, nullptr, _IONBF, 0);
  FileReader reader(f);
  std::array<std::byte, 8> out;
  EXPECT_TRUE(IsWouldBlock(reader.read(out).status()));
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);
  ::close(fds[1]);
  EXPECT_EQ(*reader.read(out), 3u);  // short: then EOF
  EXPECT_EQ(*reader.read(out), 0u);
  std::fclose(f);
}

}  // namespace
}  // namespace readbuf
