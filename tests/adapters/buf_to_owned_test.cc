// Tests for adapters/buf_to_owned.h: the inner reader fills the pool block in
// place (no copy), would-block and EOF hold no block, forwarding.
#include "adapters/buf_to_owned.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;

static_assert(OwnedReader<BufToOwnedReader<FaultReader<kReadBuf>>>);
static_assert(OwnedReader<BufToOwnedReader<FaultReader<kReadTry>>>);
static_assert(BufReader<BufToOwnedReader<FaultReader<kReadBuf | kReadVectored>>>);
static_assert(VectoredReader<BufToOwnedReader<FaultReader<kReadBuf | kReadVectored>>>);
static_assert(BufToOwnedReader<FaultReader<kReadBuf>>::kCopies == 0);

// Records where it wrote.
struct RecordingTryReader {
  const void* last_write = nullptr;
  bool ready = true;
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    if (!ready) return WouldBlockError();
    last_write = b.unfilled().write_ptr();
    return append(b, std::as_bytes(std::span("payload", 7)));
  }
};

TEST(BufToOwnedTest, TheInnerReaderFillsTheHandedOutBlockInPlace) {
  BufferPool pool;
  BufToOwnedOptions options;
  options.pool = &pool;
  BufToOwnedReader reader(RecordingTryReader(), options);
  absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(4096);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ((*bytes)->size(), 7u);
  EXPECT_EQ(static_cast<const void*>((*bytes)->data()),
            reader.inner().last_write);  // same memory: no copy
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
}

TEST(BufToOwnedTest, WouldBlockHoldsNoBlock) {
  BufferPool pool;
  BufToOwnedOptions options;
  options.pool = &pool;
  BufToOwnedReader reader(RecordingTryReader{.last_write = nullptr, .ready = false},
                          options);
  EXPECT_TRUE(IsWouldBlock(reader.read_owned(4096).status()));
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
  EXPECT_EQ(pool.Stats().bytes_in_use, 0u);
}

TEST(BufToOwnedTest, EofIsNulloptAndHoldsNoBlock) {
  BufferPool pool;
  BufToOwnedOptions options;
  options.pool = &pool;
  BufToOwnedReader reader(FaultReader<kReadBuf>("", FaultOptions()), options);
  absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(100);
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(bytes->has_value());
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
}

TEST(BufToOwnedTest, NeverExceedsMaxOrTheBlockSizeCap) {
  const std::string data(10000, 'q');
  FaultOptions full;
  full.short_read_rate = 0;
  BufToOwnedOptions options;
  options.max_block_size = 1000;
  BufToOwnedReader reader(FaultReader<kReadBuf>(data, full), options);
  EXPECT_EQ((*reader.read_owned(50))->size(), 50u);
  EXPECT_EQ((*reader.read_owned(5000))->size(), 1000u);
}

TEST(BufToOwnedTest, CappedPoolGivesResourceExhausted) {
  BufferPool::Options pool_options;
  pool_options.max_bytes_in_use = 0;
  BufferPool pool(pool_options);
  BufToOwnedOptions options;
  options.pool = &pool;
  BufToOwnedReader reader(RecordingTryReader(), options);
  EXPECT_EQ(reader.read_owned(100).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reader.inner().last_write, nullptr);  // nothing was read
}

}  // namespace
}  // namespace readbuf
