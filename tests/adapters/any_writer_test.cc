// Tests for adapters/any_writer.h: the capability mask, writev kept through
// the erasure, the first-non-empty fallback that writev_all loops over.
#include "adapters/any_writer.h"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "io/writer_concepts.h"

namespace readbuf {
namespace {

static_assert(SpanWriter<AnyWriter> && VectoredWriter<AnyWriter>);

struct SpanOnlyWriter {
  std::string* out;
  int* calls;
  absl::StatusOr<size_t> write(std::span<const std::byte> s) {
    ++*calls;
    const size_t n = std::min<size_t>(s.size(), 3);
    out->append(reinterpret_cast<const char*>(s.data()), n);
    return n;
  }
};
struct VectoredOnlyWriter {
  std::string* out;
  int* calls;
  absl::StatusOr<size_t> writev(std::span<const iovec> iov) {
    ++*calls;
    size_t total = 0;
    for (const iovec& v : iov) {
      out->append(static_cast<const char*>(v.iov_base), v.iov_len);
      total += v.iov_len;
    }
    return total;
  }
};

static_assert(kWriterCapabilities<SpanOnlyWriter> == kWriteSpan);
static_assert(kWriterCapabilities<VectoredOnlyWriter> == kWriteVectored);

TEST(AnyWriterTest, VectoredWriterStaysVectored) {
  std::string out;
  int calls = 0;
  AnyWriter writer(VectoredOnlyWriter{&out, &calls});
  EXPECT_EQ(writer.capabilities(), kWriteVectored);
  EXPECT_TRUE(writer.is_inline());
  std::string a = "head", b = "body";
  const std::array<iovec, 2> iov = {iovec{a.data(), a.size()},
                                    iovec{b.data(), b.size()}};
  ASSERT_TRUE(writev_all(writer, iov).ok());
  EXPECT_EQ(out, "headbody");
  EXPECT_EQ(calls, 1);  // one writev, not one write per region
  ASSERT_TRUE(write_all(writer, std::as_bytes(std::span("!", 1))).ok());
  EXPECT_EQ(out, "headbody!");
}

TEST(AnyWriterTest, SpanWriterServesWritevFromTheFirstNonEmptyRegion) {
  std::string out;
  int calls = 0;
  AnyWriter writer(SpanOnlyWriter{&out, &calls});
  std::string a = "abcd", b = "ef";
  const std::array<iovec, 3> iov = {iovec{nullptr, 0}, iovec{a.data(), a.size()},
                                    iovec{b.data(), b.size()}};
  absl::StatusOr<size_t> n = writer.writev(iov);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);  // short count from the first non-empty region
  out.clear();
  ASSERT_TRUE(writev_all(writer, iov).ok());
  EXPECT_EQ(out, "abcdef");
}

TEST(AnyWriterTest, ErrorsPassThroughUnchanged) {
  struct Failing {
    absl::StatusOr<size_t> write(std::span<const std::byte>) {
      return absl::ErrnoToStatus(EPIPE, "write(fd=9)");
    }
  };
  AnyWriter writer{Failing()};
  EXPECT_EQ(writer.write(std::as_bytes(std::span("x", 1))).status(),
            absl::ErrnoToStatus(EPIPE, "write(fd=9)"));
}

}  // namespace
}  // namespace readbuf
