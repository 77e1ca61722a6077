// Tests for adapters/istream_reader.h: read-some semantics (waits for the
// first byte only), EOF, failed streams, throwing streambufs.
#include "adapters/istream_reader.h"

#include <array>
#include <cstddef>
#include <istream>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>

#include "absl/status/status.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace {

static_assert(SpanReader<IstreamReader> && BufReader<IstreamReader>);

// Hands out `chunk` bytes per underflow, counting underflows.
class ChunkedStreambuf : public std::streambuf {
 public:
  ChunkedStreambuf(std::string data, size_t chunk)
      : data_(std::move(data)), chunk_(chunk) {}
  int underflows = 0;

 protected:
  int_type underflow() override {
    ++underflows;
    if (offset_ == data_.size()) return traits_type::eof();
    const size_t n = std::min(chunk_, data_.size() - offset_);
    char* p = data_.data() + offset_;
    setg(p, p, p + n);
    offset_ += n;
    return traits_type::to_int_type(*p);
  }

 private:
  std::string data_;
  size_t chunk_;
  size_t offset_ = 0;
};

TEST(IstreamReaderTest, TakesWhatIsBufferedWithoutWaitingForMore) {
  ChunkedStreambuf sb("0123456789", 4);
  std::istream stream(&sb);
  IstreamReader reader(stream);
  Uninit buf(100);
  EXPECT_EQ(*reader.read_buf(buf), 4u);  // one chunk, not all 100
  EXPECT_EQ(sb.underflows, 1);
  EXPECT_EQ(*reader.read_buf(buf), 4u);
  EXPECT_EQ(*reader.read_buf(buf), 2u);
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // EOF
  EXPECT_TRUE(stream.eof());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.filled().data()), 10),
            "0123456789");
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(IstreamReaderTest, FailedStreamIsFailedPrecondition) {
  std::istringstream stream("abc");
  stream.setstate(std::ios_base::failbit);
  IstreamReader reader(stream);
  std::array<std::byte, 4> out;
  EXPECT_EQ(reader.read(out).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

class ThrowingStreambuf : public std::streambuf {
 protected:
  int_type underflow() override { throw std::runtime_error("disk on fire"); }
};

TEST(IstreamReaderTest, ThrowingStreambufIsUnknownAndSetsBadbit) {
  ThrowingStreambuf sb;
  std::istream stream(&sb);
  IstreamReader reader(stream);
  std::array<std::byte, 4> out;
  absl::Status s = reader.read(out).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_NE(s.message().find("disk on fire"), absl::string_view::npos);
  EXPECT_TRUE(stream.bad());
}

}  // namespace
}  // namespace readbuf
