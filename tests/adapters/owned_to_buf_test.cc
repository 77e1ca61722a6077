// Tests for adapters/owned_to_buf.h: one copy into the caller's buffer,
// a remainder kept and delivered first, EOF and errors unchanged.
#include "adapters/owned_to_buf.h"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;

static_assert(BufReader<OwnedToBufReader<FaultReader<kReadOwned>>>);
static_assert(SpanReader<OwnedToBufReader<FaultReader<kReadOwned>>>);
static_assert(VectoredReader<OwnedToBufReader<FaultReader<kReadOwned>>>);
static_assert(OwnedReader<OwnedToBufReader<FaultReader<kReadOwned>>>);
static_assert(OwnedToBufReader<FaultReader<kReadOwned>>::kCopies == 1);

PoolBytes BytesOf(const std::string& s) {
  PoolBlock block = *BufferPool::ForThisThread().Acquire(s.size());
  std::memcpy(block.data(), s.data(), s.size());
  return PoolBytes(std::move(block), s.size());
}

// Returns whole chunks regardless of `max` (a misbehaving provider), then EOF.
struct GreedyOwnedReader {
  std::vector<std::string> chunks;
  size_t next = 0;
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t) {
    if (next == chunks.size()) return std::optional<PoolBytes>();
    return std::optional<PoolBytes>(BytesOf(chunks[next++]));
  }
};

TEST(OwnedToBufTest, CopiesIntoTheCallersBufferAcrossSegments) {
  FaultOptions options;
  options.short_read_rate = 0;
  OwnedToBufReader reader(FaultReader<kReadOwned>("abcdefghij", options));
  Vectored<3> buf({3, 3, 4});
  EXPECT_EQ(*reader.read_buf(buf), 10u);
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // full
  buf.clear();
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // EOF
}

TEST(OwnedToBufTest, KeepsARemainderAndDeliversItFirstToEveryMember) {
  OwnedToBufReader reader(GreedyOwnedReader{{"0123456789", "ab"}, 0});
  std::array<std::byte, 4> small;
  ASSERT_EQ(*reader.read(small), 4u);  // "0123", keeps "456789"
  Uninit buf(3);
  ASSERT_EQ(*reader.read_buf(buf), 3u);  // "456"
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.filled().data()), 3),
            "456");
  std::array<char, 2> a;
  const std::array<iovec, 1> iov = {iovec{a.data(), 2}};
  ASSERT_EQ(*reader.readv(iov), 2u);  // "78"
  absl::StatusOr<std::optional<PoolBytes>> rest = reader.read_owned(100);
  ASSERT_TRUE(rest.ok() && rest->has_value());
  EXPECT_EQ((*rest)->size(), 1u);  // "9"
  absl::StatusOr<std::optional<PoolBytes>> next = reader.read_owned(1);
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->size(), 1u);  // "a": "ab" split, "b" kept
  ASSERT_EQ(*reader.read(small), 1u);
  EXPECT_EQ(static_cast<char>(small[0]), 'b');
  EXPECT_EQ(*reader.read(small), 0u);  // EOF
}

TEST(OwnedToBufTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 0;
  options.error = absl::ErrnoToStatus(ENOBUFS, "recv(fd=4)");
  OwnedToBufReader reader(FaultReader<kReadOwned>("abc", options));
  Uninit buf(8);
  EXPECT_EQ(reader.read_buf(buf).status(), options.error);
}

}  // namespace
}  // namespace readbuf
