// Tests for adapters/cord_sink.h: pool blocks become Cord memory without a
// copy and return to their pool with the last Cord.
#include "adapters/cord_sink.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "adapters/buf_to_owned.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

// Writes `chunk` bytes of 'z' per read, recording where.
struct RecordingBufReader {
  const void* last_write = nullptr;
  size_t left;
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    if (left == 0) return 0;
    last_write = b.unfilled().write_ptr();
    const size_t n = std::min(left, b.unfilled().size());
    std::string z(n, 'z');
    append(b, std::as_bytes(std::span(z)));
    left -= n;
    return n;
  }
};

TEST(CordSinkTest, PoolBlockBecomesTheCordsMemoryWithoutACopy) {
  BufferPool pool;
  BufToOwnedOptions options;
  options.pool = &pool;
  CordSink sink(BufToOwnedReader(RecordingBufReader{nullptr, 4096}, options));
  absl::Cord cord;
  ASSERT_EQ(*sink.append_to(cord, 4096), 4096u);
  const void* written = sink.inner().inner().last_write;
  ASSERT_NE(written, nullptr);
  absl::string_view chunk = *cord.Chunks().begin();
  EXPECT_EQ(static_cast<const void*>(chunk.data()), written);  // same memory
  EXPECT_EQ(chunk.size(), 4096u);
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
  absl::Cord copy = cord;  // shares the block
  cord.Clear();
  EXPECT_EQ(pool.Stats().blocks_in_use, 1u);
  copy.Clear();  // the last Cord: the block goes back
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
}

TEST(CordSinkTest, CordDestroyedOnAnotherThreadReturnsTheBlock) {
  BufferPool pool;
  BufToOwnedOptions options;
  options.pool = &pool;
  CordSink sink(BufToOwnedReader(RecordingBufReader{nullptr, 1000}, options));
  absl::Cord cord;
  ASSERT_EQ(*sink.append_to(cord, 1000), 1000u);
  std::thread([c = std::move(cord)]() mutable { c.Clear(); }).join();
  EXPECT_EQ(pool.Stats().blocks_in_use, 0u);
}

TEST(CordSinkTest, ReadAllEqualsTheInput) {
  const std::string data = RandomBytes(50000, 2);
  CordSink sink(FaultReader<kReadOwned>(data, FaultOptions()));
  absl::StatusOr<absl::Cord> cord = sink.read_all(3000);
  ASSERT_TRUE(cord.ok());
  EXPECT_TRUE(std::string(*cord) == data);
}

TEST(CordSinkTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 10;
  options.error = absl::ErrnoToStatus(ECONNABORTED, "read(fd=2)");
  CordSink sink(FaultReader<kReadOwned>(RandomBytes(100, 1), options));
  EXPECT_EQ(sink.read_all(64).status(), options.error);
}

TEST(CordSinkTest, EmptyPoolBytesGiveAnEmptyCord) {
  EXPECT_TRUE(PoolBytesToCord(PoolBytes()).empty());
}

}  // namespace
}  // namespace readbuf
