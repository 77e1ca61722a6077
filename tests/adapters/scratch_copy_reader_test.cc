// Tests for adapters/scratch_copy_reader.h: one copy into a block of exactly
// the size read, the scratch zeroed once per thread, EOF/errors, nesting (a scratch each).
#include "adapters/scratch_copy_reader.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"

namespace readbuf {
namespace {

using ::readbuf::adapters_internal::ScratchLease;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

static_assert(OwnedReader<ScratchCopyReader<FaultReader<kReadSpan>>>);
static_assert(SpanReader<ScratchCopyReader<FaultReader<kReadSpan>>>);
static_assert(VectoredReader<ScratchCopyReader<FaultReader<kReadSpan | kReadVectored>>>);
static_assert(ScratchCopyReader<FaultReader<kReadSpan>>::kCopies == 1);

TEST(ScratchCopyReaderTest, ReturnsExactlyTheBytesReadInAFittingBlock) {
  BufferPool pool;
  FaultOptions options;
  options.short_read_rate = 0;
  ScratchCopyReader reader(FaultReader<kReadSpan>(std::string(300, 'a'), options),
                           &pool);
  absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(4096);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ((*bytes)->size(), 300u);
  // The block is the smallest size class that holds 300 bytes, not 4096.
  EXPECT_LE(pool.Stats().bytes_in_use, 512u);
  EXPECT_FALSE(reader.read_owned(4096)->has_value());  // EOF
}

TEST(ScratchCopyReaderTest, ScratchIsZeroedOncePerThread) {
  std::thread([] {
    EXPECT_EQ(ScratchLease::ThreadZeroedBytes(), 0u);
    const std::string data = RandomBytes(300000, 4);
    ScratchCopyReader reader(FaultReader<kReadSpan>(data, FaultOptions()));
    testing::DrainResult result = testing::DrainWithReadOwned(reader, 70000);
    EXPECT_TRUE(result.bytes == data);
    EXPECT_GT(result.reads, 5u);
    EXPECT_EQ(ScratchLease::ThreadZeroedBytes(), ScratchLease::kScratchSize);
  }).join();
}

TEST(ScratchCopyReaderTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 0;
  options.error = absl::ErrnoToStatus(ETIMEDOUT, "read(tls)");
  ScratchCopyReader reader(FaultReader<kReadSpan>("abc", options));
  EXPECT_EQ(reader.read_owned(10).status(), options.error);
}

// A span reader that re-enters a ScratchCopyReader on its thread while its
// own span (the outer scratch) is lent out.
struct ReentrantReader {
  std::string* nested_bytes;
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    s[0] = std::byte{'o'};
    ScratchCopyReader nested(FaultReader<kReadSpan>("x", FaultOptions()));
    absl::StatusOr<std::optional<PoolBytes>> got = nested.read_owned(1);
    if (got.ok() && got->has_value()) {
      nested_bytes->assign(reinterpret_cast<const char*>((*got)->data()), (*got)->size());
    }
    return 1;
  }
};

TEST(ScratchCopyReaderTest, NestedUseOnOneThreadGetsItsOwnScratch) {
  std::string nested_bytes;
  ScratchCopyReader reader{ReentrantReader{&nested_bytes}};
  absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(10);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ(static_cast<char>((*bytes)->data()[0]), 'o');  // not overwritten
  EXPECT_EQ(nested_bytes, "x");
  EXPECT_EQ(ScratchLease::ThreadLeased(), 0u);  // both given back
}

}  // namespace
}  // namespace readbuf
