// Tests for adapters/async_scratch_copy_reader.h: every byte once and in
// order in blocks of exactly the size read, the pool block taken only after
// the read completed, two pending reads on one core never sharing a scratch,
// scratch zeroed once, errors and EOF unchanged, a real TCP stream.
#include "adapters/async_scratch_copy_reader.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
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

using ::readbuf::adapters_internal::ScratchLease;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

// An opaque async span reader: each read suspends (yield_now) before it
// writes, and records what the core held while it was pending.
struct SuspendingReader {
  FaultReader<kReadSpan>* source;
  BufferPool* pool = nullptr;
  std::vector<uint64_t>* blocks_while_pending = nullptr;
  std::vector<size_t>* leased_while_pending = nullptr;

  Task<absl::StatusOr<size_t>> read(std::span<std::byte> s) {
    co_await yield_now();
    if (blocks_while_pending != nullptr) {
      blocks_while_pending->push_back(pool->Stats().blocks_in_use);
    }
    if (leased_while_pending != nullptr) {
      leased_while_pending->push_back(ScratchLease::ThreadLeased());
    }
    co_await yield_now();
    co_return source->read(s);
  }
};

static_assert(AsyncSpanReader<SuspendingReader>);
static_assert(AsyncOwnedReader<AsyncScratchCopyReader<SuspendingReader>>);
static_assert(AsyncSpanReader<AsyncScratchCopyReader<SuspendingReader>>);
static_assert(AsyncScratchCopyReader<SuspendingReader>::kCopies == 1);

using ::readbuf::testing::Drained;

Task<Drained> Drain(AsyncScratchCopyReader<SuspendingReader>& reader, size_t max) {
  return testing::DrainOwned(reader, max);
}

TEST(AsyncScratchCopyReaderTest, TakesTheBlockOnlyAfterTheReadAndSizesItToTheBytes) {
  const std::string data = RandomBytes(200000, 5);
  Runtime rt({.n_cores = 1});
  absl::StatusOr<Drained> result = rt.block_on([&]() -> Task<Drained> {
    BufferPool pool;  // this core's; the reader's blocks come from it
    FaultReader<kReadSpan> source(data, FaultOptions());  // random short reads
    std::vector<uint64_t> blocks_while_pending;
    AsyncScratchCopyReader reader(
        SuspendingReader{&source, &pool, &blocks_while_pending, nullptr}, &pool);
    Drained drained = co_await Drain(reader, 8192);
    // Nothing was taken from the pool while a read was pending.
    for (uint64_t held : blocks_while_pending) EXPECT_EQ(held, 0u);
    EXPECT_EQ(blocks_while_pending.size(), drained.sizes.size() + 1);  // + EOF
    co_return drained;
  }());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->status.ok()) << result->status;
  EXPECT_TRUE(result->bytes == data);  // every byte once, in order
  EXPECT_GT(result->sizes.size(), 25u);
  bool some_short = false;
  for (size_t size : result->sizes) {
    EXPECT_LE(size, 8192u);
    some_short = some_short || size < 8192;
  }
  EXPECT_TRUE(some_short);  // short reads gave short (exactly sized) blocks
}

TEST(AsyncScratchCopyReaderTest, PendingReadsOnOneCoreUseSeparateScratch) {
  const std::string a = RandomBytes(50000, 6);
  const std::string b = RandomBytes(50000, 7);
  Runtime rt({.n_cores = 1});
  struct Both {
    Drained a, b;
    size_t most_leased = 0;
    size_t zeroed_growth = 0;
  };
  absl::StatusOr<Both> result = rt.block_on([&]() -> Task<Both> {
    const size_t zeroed_before = ScratchLease::ThreadZeroedBytes();
    FaultReader<kReadSpan> source_a(a, FaultOptions());
    FaultReader<kReadSpan> source_b(b, FaultOptions());
    std::vector<size_t> leased;
    AsyncScratchCopyReader reader_a(SuspendingReader{&source_a, nullptr, nullptr, &leased});
    AsyncScratchCopyReader reader_b(SuspendingReader{&source_b, nullptr, nullptr, &leased});
    // Both drains interleave at every yield: two reads pending at once.
    JoinHandle<Drained> other = spawn(Drain(reader_b, 4096));
    Both both;
    both.a = co_await Drain(reader_a, 4096);
    absl::StatusOr<Drained> drained_b = co_await other;
    if (drained_b.ok()) both.b = *std::move(drained_b);
    for (size_t n : leased) both.most_leased = std::max(both.most_leased, n);
    both.zeroed_growth = ScratchLease::ThreadZeroedBytes() - zeroed_before;
    co_return both;
  }());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->a.bytes == a);  // no byte of b leaked into a's stream
  EXPECT_TRUE(result->b.bytes == b);
  EXPECT_EQ(result->most_leased, 2u);  // two reads pending, two scratches
  // Many reads each, yet at most two scratch buffers were ever zeroed.
  EXPECT_LE(result->zeroed_growth, 2 * ScratchLease::kScratchSize);
}

TEST(AsyncScratchCopyReaderTest, ErrorsAndEofPassThroughUnchanged) {
  Runtime rt({.n_cores = 1});
  absl::StatusOr<Drained> result = rt.block_on([&]() -> Task<Drained> {
    FaultOptions options;
    options.error_at = 3;
    options.error = absl::ErrnoToStatus(ECONNRESET, "read(tls)");
    FaultReader<kReadSpan> source("abcdef", options);
    AsyncScratchCopyReader reader(SuspendingReader{&source});
    co_return co_await Drain(reader, 100);
  }());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->bytes, "abc");
  EXPECT_EQ(result->status, absl::ErrnoToStatus(ECONNRESET, "read(tls)"));
}

// Over a real socket of the reactor (TcpStream's co_await read(span)).
TEST(AsyncScratchCopyReaderTest, WorksOverARealTcpStream) {
  const std::string data = RandomBytes(200000, 8);
  Runtime rt({.n_cores = 1});
  absl::Status s = rt.block_on(testing::DrainOverTcp(
      data, 16384, [](TcpStream* server) { return AsyncScratchCopyReader(server); }));
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace readbuf
