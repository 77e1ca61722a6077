// Tests for adapters/cord_reader.h.
#include "adapters/cord_reader.h"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "absl/strings/cord.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace {

static_assert(SpanReader<CordReader> && BufReader<CordReader> &&
              VectoredReader<CordReader>);

absl::Cord Fragmented(const std::string& s, size_t piece) {
  absl::Cord cord;
  for (size_t i = 0; i < s.size(); i += piece) {
    cord.Append(absl::MakeCordFromExternal(absl::string_view(s).substr(i, piece),
                                           [] {}));
  }
  return cord;
}

TEST(CordReaderTest, ReadsAcrossChunksAndEnds) {
  const std::string data = "the quick brown fox jumps over the lazy dog";
  CordReader reader(Fragmented(data, 5));
  std::array<std::byte, 12> out;
  std::string got;
  for (;;) {
    const size_t n = *reader.read(out);
    if (n == 0) break;
    got.append(reinterpret_cast<const char*>(out.data()), n);
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(reader.remaining(), 0u);
}

TEST(CordReaderTest, ReadBufFillsEverySegment) {
  const std::string data(1000, 'c');
  CordReader reader(Fragmented(data, 77));
  Vectored<3> buf({100, 200, 300});
  EXPECT_EQ(*reader.read_buf(buf), 600u);
  EXPECT_EQ(reader.remaining(), 400u);
}

TEST(CordReaderTest, ReadvScattersInOrder) {
  CordReader reader(absl::Cord("abcdefg"));
  std::array<char, 3> a;
  std::array<char, 10> b;
  const std::array<iovec, 2> iov = {iovec{a.data(), 3}, iovec{b.data(), 10}};
  EXPECT_EQ(*reader.readv(iov), 7u);
  EXPECT_EQ(std::string(a.data(), 3) + std::string(b.data(), 4), "abcdefg");
  EXPECT_EQ(*reader.readv(iov), 0u);
}

}  // namespace
}  // namespace readbuf
