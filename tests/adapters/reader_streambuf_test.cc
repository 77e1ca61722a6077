// Tests for adapters/reader_streambuf.h: istreams over readbuf readers,
// errors kept in status(), the span-reader path zeroing once.
#include "adapters/reader_streambuf.h"

#include <istream>
#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

static_assert(ReaderStreambuf<FaultReader<kReadSpan>>::kCopies == 1);
static_assert(ReaderStreambuf<FaultReader<kReadSpan>>::kZeroes);
static_assert(!ReaderStreambuf<FaultReader<kReadBuf>>::kZeroes);

TEST(ReaderStreambufTest, GetlineOverAShortReadingReader) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "line " + std::to_string(i) + "\n";
  ReaderStreambuf sb(FaultReader<kReadSpan>(text, FaultOptions()), 64);
  std::istream in(&sb);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line, "line " + std::to_string(lines));
    ++lines;
  }
  EXPECT_EQ(lines, 500);
  EXPECT_TRUE(sb.status().ok());
}

TEST(ReaderStreambufTest, BinaryDataThroughAReadBufReader) {
  const std::string data = RandomBytes(10000, 3);
  ReaderStreambuf sb(FaultReader<kReadBuf>(data, FaultOptions()), 256);
  std::istream in(&sb);
  std::string out((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  EXPECT_TRUE(out == data);
}

TEST(ReaderStreambufTest, AnErrorEndsTheStreamAndIsKept) {
  FaultOptions options;
  options.error_at = 100;
  options.error = absl::ErrnoToStatus(ECONNRESET, "read(fd=8)");
  ReaderStreambuf sb(FaultReader<kReadSpan>(RandomBytes(1000, 4), options), 64);
  std::istream in(&sb);
  std::string out((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  EXPECT_EQ(out.size(), 100u);
  EXPECT_EQ(sb.status(), options.error);
}

}  // namespace
}  // namespace readbuf
