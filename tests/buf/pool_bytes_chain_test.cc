// Tests for buf/pool_bytes_chain.h: chunks kept as they were appended (no
// copy), consume() across chunk boundaries returning whole blocks to their
// pool at once, iovecs() for writev, copy_to() and pop_front().
#include "buf/pool_bytes_chain.h"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

PoolBytes Bytes(BufferPool& pool, std::string_view text) {
  absl::StatusOr<PoolBlock> block = pool.Acquire(text.size());
  EXPECT_TRUE(block.ok());
  std::memcpy(block->data(), text.data(), text.size());
  return PoolBytes(*std::move(block), text.size());
}

std::string Text(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string All(const PoolBytesChain& chain) {
  std::string out(chain.size(), '\0');
  EXPECT_EQ(chain.copy_to(std::as_writable_bytes(std::span<char>(out))),
            chain.size());
  return out;
}

TEST(PoolBytesChainTest, KeepsChunksInPlaceAndDropsEmptyOnes) {
  BufferPool pool;
  PoolBytesChain chain;
  EXPECT_TRUE(chain.empty());
  EXPECT_TRUE(chain.buffer().empty());
  PoolBytes hello = Bytes(pool, "hello ");
  const std::byte* where = hello.data();
  chain.append(std::move(hello));
  chain.append(PoolBytes());
  chain.append(Bytes(pool, "world"));
  EXPECT_EQ(chain.size(), 11u);
  EXPECT_EQ(chain.chunk_count(), 2u);
  EXPECT_EQ(chain.buffer().data(), where);  // not copied
  EXPECT_EQ(Text(chain.chunk(1)), "world");
  EXPECT_EQ(All(chain), "hello world");
}

TEST(PoolBytesChainTest, ConsumeAcrossChunksReturnsWholeBlocksAtOnce) {
  BufferPool pool;
  PoolBytesChain chain;
  chain.append(Bytes(pool, "abc"));
  chain.append(Bytes(pool, "defg"));
  chain.append(Bytes(pool, "hi"));
  EXPECT_EQ(pool.Stats().blocks_in_use, 3u);
  chain.consume(1);
  EXPECT_EQ(Text(chain.buffer()), "bc");
  chain.consume(4);  // "bc" and "de"
  EXPECT_EQ(pool.Stats().blocks_in_use, 2u);
  EXPECT_EQ(Text(chain.buffer()), "fg");
  EXPECT_EQ(chain.size(), 4u);
  chain.consume(2);  // exactly a chunk
  EXPECT_EQ(chain.chunk_count(), 1u);
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
  chain.consume(0);
  chain.consume(2);
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
}

TEST(PoolBytesChainTest, IovecsPointIntoTheChunks) {
  BufferPool pool;
  PoolBytesChain chain;
  chain.append(Bytes(pool, "one"));
  chain.append(Bytes(pool, "two"));
  chain.append(Bytes(pool, "three"));
  std::array<iovec, 2> small;
  ASSERT_EQ(chain.iovecs(small), 2u);  // at most out.size()
  std::array<iovec, 8> iov;
  ASSERT_EQ(chain.iovecs(iov), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(iov[i].iov_base, chain.chunk(i).data());
    EXPECT_EQ(iov[i].iov_len, chain.chunk(i).size());
  }
}

TEST(PoolBytesChainTest, CopyToStopsAtEitherEnd) {
  BufferPool pool;
  PoolBytesChain chain;
  chain.append(Bytes(pool, "ab"));
  chain.append(Bytes(pool, "cd"));
  std::array<std::byte, 3> three;
  EXPECT_EQ(chain.copy_to(three), 3u);
  EXPECT_EQ(Text(three), "abc");
  std::array<std::byte, 9> nine;
  EXPECT_EQ(chain.copy_to(nine), 4u);
  EXPECT_EQ(chain.size(), 4u);  // nothing consumed
}

TEST(PoolBytesChainTest, PopFrontAppendChainAndMove) {
  BufferPool pool;
  PoolBytesChain a;
  a.append(Bytes(pool, "x"));
  PoolBytesChain b;
  b.append(Bytes(pool, "yz"));
  a.append(std::move(b));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(All(a), "xyz");
  PoolBytes front = a.pop_front();
  EXPECT_EQ(Text(front.span()), "x");
  EXPECT_EQ(a.size(), 2u);
  PoolBytesChain moved(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(moved.size(), 2u);
  moved.clear();
  EXPECT_TRUE(moved.pop_front().empty());
}

TEST(PoolBytesChainDeathTest, ConsumePastTheEndIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BufferPool pool;
  PoolBytesChain chain;
  chain.append(Bytes(pool, "ab"));
  EXPECT_DEATH(chain.consume(3), "consume\\(3\\) past the 2 bytes");
}

}  // namespace
}  // namespace readbuf
