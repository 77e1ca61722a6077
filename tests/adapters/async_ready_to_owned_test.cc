// Tests for adapters/async_ready_to_owned.h: memory is taken only after
// readiness (none is held while waiting), spurious wake-ups give the block
// back, every byte arrives once and in order, errors keep their meaning.
#include "adapters/async_ready_to_owned.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/reader_concepts.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/adapters/tcp_drain.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

// ready() records how many pool blocks the core holds while it waits.
struct FakeReadyReader {
  FaultReader<kReadTry>* source;
  std::vector<uint64_t>* blocks_while_waiting;
  Task<absl::Status> ready() {
    blocks_while_waiting->push_back(
        BufferPool::ForThisThread().Stats().blocks_in_use);
    co_return absl::OkStatus();
  }
  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    return source->try_read(b);
  }
};

static_assert(AsyncReadyReader<FakeReadyReader>);
static_assert(AsyncOwnedReader<AsyncReadyToOwnedReader<FakeReadyReader>>);
static_assert(AsyncReadyReader<AsyncReadyToOwnedReader<FakeReadyReader>>);

using ::readbuf::testing::Drained;

Task<Drained> Drain(AsyncReadyToOwnedReader<FakeReadyReader>& reader, size_t max) {
  return testing::DrainOwned(reader, max);
}

TEST(AsyncReadyToOwnedTest, HoldsNoMemoryWhileWaitingAndDeliversEveryByte) {
  const std::string data = RandomBytes(100000, 1);
  FaultOptions options;
  options.would_block_rate = 0.3;  // spurious wake-ups
  FaultReader<kReadTry> source(data, options);
  std::vector<uint64_t> blocks_while_waiting;
  AsyncReadyToOwnedReader reader(FakeReadyReader{&source, &blocks_while_waiting});
  Runtime rt;
  absl::StatusOr<Drained> result = rt.block_on(Drain(reader, 4096));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->status.ok()) << result->status;
  EXPECT_TRUE(result->bytes == data);
  ASSERT_GT(blocks_while_waiting.size(), 25u);
  for (uint64_t blocks : blocks_while_waiting) EXPECT_EQ(blocks, 0u);
}

TEST(AsyncReadyToOwnedTest, ErrorsPassThroughUnchanged) {
  FaultOptions options;
  options.error_at = 500;
  options.error = absl::ErrnoToStatus(ECONNRESET, "read(fd=6)");
  FaultReader<kReadTry> source(RandomBytes(1000, 2), options);
  std::vector<uint64_t> blocks_while_waiting;
  AsyncReadyToOwnedReader reader(FakeReadyReader{&source, &blocks_while_waiting});
  Runtime rt;
  absl::StatusOr<Drained> result = rt.block_on(Drain(reader, 4096));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->bytes.size(), 500u);
  EXPECT_EQ(result->status, options.error);
}

static_assert(AsyncReadyReader<TcpStream>);
static_assert(AsyncOwnedReader<AsyncReadyToOwnedReader<TcpStream*>>);

// The adapter over a real socket on the reactor: readiness from the backend,
// then a pool block, then a non-blocking read into it.
TEST(AsyncReadyToOwnedTest, WorksOverARealTcpStream) {
  const std::string data = RandomBytes(200000, 3);
  Runtime rt({.n_cores = 1});
  absl::Status s = rt.block_on(testing::DrainOverTcp(
      data, 16384, [](TcpStream* server) { return AsyncReadyToOwnedReader(server); }));
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace readbuf
