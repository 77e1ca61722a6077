// Tests for buf/pooled.h: no memory until prepare(), memory back on
// release_idle(), zero-copy take_filled(), adaptive sizing, and the pool cap.
#include "buf/pooled.h"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

Pooled::Options OnPool(BufferPool& pool) {
  Pooled::Options options;
  options.pool = &pool;
  return options;
}

TEST(PooledTest, HoldsNoMemoryUntilPrepare) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  EXPECT_FALSE(buf.holds_memory());
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_TRUE(buf.unfilled().empty());
  EXPECT_EQ(pool.Stats().bytes_in_use, 0u);
  ASSERT_TRUE(read_buf_traits<Pooled>::prepare(buf, 0).ok());
  EXPECT_TRUE(buf.holds_memory());
  EXPECT_EQ(buf.capacity(), 8192u);  // the adaptive starting size
  EXPECT_EQ(buf.initialized_size(), 0u);
  EXPECT_EQ(pool.Stats().bytes_in_use, 8192u);
}

TEST(PooledTest, ReleaseIdleGivesTheBlockBackOnlyWhenEmpty) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  ASSERT_TRUE(buf.prepare(0).ok());
  append(buf, std::as_bytes(std::span("abc", 3)));
  buf.release_idle();  // data not consumed yet: kept
  EXPECT_TRUE(buf.holds_memory());
  EXPECT_EQ(buf.filled_size(), 3u);
  buf.clear();
  buf.release_idle();
  EXPECT_FALSE(buf.holds_memory());
  EXPECT_EQ(pool.Stats().bytes_in_use, 0u);
}

TEST(PooledTest, PrepareKeepsAHeldBlockAndItsData) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  ASSERT_TRUE(buf.prepare(0).ok());
  append(buf, std::as_bytes(std::span("xy", 2)));
  const std::byte* before = buf.filled().data();
  ASSERT_TRUE(buf.prepare(0).ok());
  EXPECT_EQ(buf.filled().data(), before);
  EXPECT_EQ(buf.filled_size(), 2u);
}

TEST(PooledTest, TakeFilledHandsOffWithoutCopying) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  ASSERT_TRUE(buf.prepare(0).ok());
  append(buf, std::as_bytes(std::span("hello", 5)));
  const std::byte* where = buf.filled().data();
  PoolBytes bytes = buf.take_filled();
  EXPECT_EQ(bytes.data(), where);
  EXPECT_EQ(bytes.size(), 5u);
  EXPECT_FALSE(buf.holds_memory());
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_EQ(pool.Stats().bytes_in_use, 8192u);  // now owned by `bytes`
  bytes = PoolBytes();
  EXPECT_EQ(pool.Stats().bytes_in_use, 0u);
}

TEST(PooledTest, TakeFilledOnEmptyReturnsTheBlock) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  ASSERT_TRUE(buf.prepare(0).ok());
  EXPECT_TRUE(buf.take_filled().empty());
  EXPECT_EQ(pool.Stats().bytes_in_use, 0u);
}

TEST(PooledTest, BlockSizeAdaptsToTraffic) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(buf.prepare(0).ok());
    const size_t asked = buf.capacity();
    buf.record_read(asked, asked);  // full reads: grow
    buf.release_idle();
  }
  EXPECT_EQ(buf.next_block_size(), 128u * 1024);
  for (int i = 0; i < 20; ++i) buf.record_read(64, buf.next_block_size());
  EXPECT_EQ(buf.next_block_size(), 512u);  // small reads: shrink, slowly
  ASSERT_TRUE(buf.prepare(0).ok());
  EXPECT_EQ(buf.capacity(), 512u);
}

TEST(PooledTest, SizeHintCapsTheBlock) {
  BufferPool pool;
  Pooled buf(OnPool(pool));
  ASSERT_TRUE(buf.prepare(1000).ok());
  EXPECT_EQ(buf.capacity(), 1024u);  // the size class of 1000
}

TEST(PooledTest, PoolCapGivesResourceExhaustedAndRecovers) {
  BufferPoolOptions options;
  options.max_bytes_in_use = 8192;
  BufferPool pool(options);
  Pooled a(OnPool(pool));
  Pooled b(OnPool(pool));
  ASSERT_TRUE(a.prepare(0).ok());
  absl::Status status = b.prepare(0);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_FALSE(b.holds_memory());
  a.release_idle();
  EXPECT_TRUE(b.prepare(0).ok());
}

TEST(PooledTest, UsesThePoolOfTheCallingThreadByDefault) {
  Pooled buf;
  const size_t before = BufferPool::ForThisThread().Stats().bytes_in_use;
  ASSERT_TRUE(buf.prepare(0).ok());
  EXPECT_EQ(BufferPool::ForThisThread().Stats().bytes_in_use,
            before + buf.capacity());
  buf.release_idle();
  EXPECT_EQ(BufferPool::ForThisThread().Stats().bytes_in_use, before);
}

TEST(PooledTest, FitsInsideDynWithoutAllocating) {
  Dyn buf{Pooled()};
  EXPECT_TRUE(buf.is_inline());
  EXPECT_EQ(buf.capabilities(), kReadBufContiguous | kReadBufDefersMemory | kReadBufReserves);
  EXPECT_EQ(buf.capacity(), 0u);
  ASSERT_TRUE(buf.prepare(0).ok());
  EXPECT_GT(buf.capacity(), 0u);
  buf.release_idle();
  EXPECT_EQ(buf.capacity(), 0u);
}

}  // namespace
}  // namespace readbuf
