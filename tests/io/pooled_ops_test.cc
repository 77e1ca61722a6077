// Tests for io/pooled_ops.h on both backends: exact bytes from pooled_read,
// nothing held after pooled_read_callback, pooled_copy through splice and
// through pool blocks into a fault-injecting writer, and cancellation. On
// io_uring the reads go through the core's provided-buffer ring, whose own
// fixed buffers are pool blocks too, as are the blocks of bytes received ahead
// of a read: "held" means beyond those.
#include "io/pooled_ops.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using testing_io::Connect;
using testing_io::ConnectedPair;
using testing_io::Loopback;
using testing_io::RandomBytes;

Task<absl::Status> WriteAllThenShutdown(TcpStream* s, const std::vector<std::byte>* data) {
  if (absl::Status st = co_await s->write_all(*data); !st.ok()) co_return st;
  co_return s->shutdown(SHUT_WR);
}

Task<absl::StatusOr<std::vector<std::byte>>> ReadToEof(TcpStream* s) {
  std::vector<std::byte> got;
  std::vector<std::byte> buf(32768);
  for (;;) {
    absl::StatusOr<size_t> n = co_await s->read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return got;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
}

// Pool bytes in use on this core beyond the provided-buffer ring's own and
// the blocks of bytes it received ahead of the reads.
size_t PoolBytesBeyondRing() {
  const RecvRingStats ring = recv_ring_stats();
  return BufferPool::ForThisThread().Stats().bytes_in_use - ring.bytes_registered -
         ring.queued_pool_bytes;
}

class PooledOpsTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    listener_.emplace(*std::move(l));
  }
  std::optional<Runtime> rt_;
  std::optional<TcpListener> listener_;
};

TEST_P(PooledOpsTest, PooledReadReturnsExactlyTheBytesInAPoolBlock) {
  const std::vector<std::byte> data = RandomBytes(100000, 1);
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteAllThenShutdown(&p->client, &data));
    std::vector<std::byte> got;
    for (;;) {
      absl::StatusOr<std::optional<PoolBytes>> bytes = co_await pooled_read(p->server, 16384);
      if (!bytes.ok()) co_return bytes.status();
      if (!bytes->has_value()) break;  // EOF
      if ((*bytes)->size() == 0 || (*bytes)->size() > 16384) {
        co_return absl::InternalError("chunk size out of range");
      }
      if (PoolBytesBeyondRing() == 0) {
        co_return absl::InternalError("the bytes must live in a pool block");
      }
      got.insert(got.end(), (*bytes)->span().begin(), (*bytes)->span().end());
    }
    if (PoolBytesBeyondRing() != 0) {
      co_return absl::InternalError("pool memory held after the chunks were dropped");
    }
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    co_return got == data ? absl::OkStatus() : absl::DataLossError("bytes differ");
  }());
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(PooledOpsTest, CallbackSeesTheBytesAndNothingIsHeldAfter) {
  const std::vector<std::byte> data = RandomBytes(50000, 2);
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteAllThenShutdown(&p->client, &data));
    std::vector<std::byte> got;
    for (;;) {
      absl::StatusOr<size_t> n = co_await pooled_read_callback(
          p->server, 4096, [&](std::span<const std::byte> bytes) {
            got.insert(got.end(), bytes.begin(), bytes.end());
          });
      if (!n.ok()) co_return n.status();
      if (PoolBytesBeyondRing() != 0) {
        co_return absl::InternalError("block held after the callback returned");
      }
      if (*n == 0) break;
    }
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    co_return got == data ? absl::OkStatus() : absl::DataLossError("bytes differ");
  }());
  EXPECT_TRUE(s.ok()) << s;
}

// Copies client1 -> server1 ==(pooled_copy)==> server2 -> client2.
absl::Status CopyBetweenSockets(Runtime& rt, TcpListener& listener, bool allow_splice) {
  const std::vector<std::byte> data = RandomBytes(1 << 20, 3);
  return rt.block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> in = co_await Connect(&listener);
    if (!in.ok()) co_return in.status();
    absl::StatusOr<ConnectedPair> out = co_await Connect(&listener);
    if (!out.ok()) co_return out.status();
    JoinHandle<absl::Status> writer = spawn(WriteAllThenShutdown(&in->client, &data));
    JoinHandle<absl::StatusOr<std::vector<std::byte>>> reader = spawn(ReadToEof(&out->client));
    const BufferPoolStats before = BufferPool::ForThisThread().Stats();
    absl::StatusOr<uint64_t> copied =
        co_await pooled_copy(in->server, out->server, {.allow_splice = allow_splice});
    if (!copied.ok()) co_return copied.status();
    const BufferPoolStats after = BufferPool::ForThisThread().Stats();
    // splice keeps the bytes in the kernel: no pool block is ever taken.
    const bool used_pool = after.hits + after.misses != before.hits + before.misses;
    if (used_pool == allow_splice) {
      co_return absl::InternalError(allow_splice ? "splice path took pool blocks"
                                                 : "pool path took no pool blocks");
    }
    if (*copied != data.size()) co_return absl::InternalError("wrong byte count");
    if (absl::Status sd = out->server.shutdown(SHUT_WR); !sd.ok()) co_return sd;
    absl::StatusOr<std::vector<std::byte>> got = co_await reader;
    if (!got.ok()) co_return got.status();
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    co_return *got == data ? absl::OkStatus() : absl::DataLossError("bytes differ");
  }());
}

TEST_P(PooledOpsTest, CopyBetweenSocketsWithSplice) {
  absl::Status s = CopyBetweenSockets(*rt_, *listener_, /*allow_splice=*/true);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(PooledOpsTest, CopyBetweenSocketsThroughPoolBlocks) {
  absl::Status s = CopyBetweenSockets(*rt_, *listener_, /*allow_splice=*/false);
  EXPECT_TRUE(s.ok()) << s;
}

// An async writer that takes random short writes, sometimes waits first (as
// a socket under back-pressure does), and fails with ECONNRESET once
// `fail_after` bytes were taken.
class FaultyWriter {
 public:
  FaultyWriter(uint32_t seed, size_t fail_after) : rng_(seed), fail_after_(fail_after) {}
  Task<absl::StatusOr<size_t>> write(std::span<const std::byte> data) {
    if (rng_() % 4 == 0) co_await sleep_for(absl::Microseconds(50));  // back-pressure
    if (taken_.size() >= fail_after_) {
      co_return absl::ErrnoToStatus(ECONNRESET, "write(faulty)");
    }
    size_t n = 1 + rng_() % data.size();
    n = std::min(n, fail_after_ - taken_.size());
    taken_.insert(taken_.end(), data.begin(), data.begin() + static_cast<long>(n));
    co_return n;
  }
  const std::vector<std::byte>& taken() const { return taken_; }

 private:
  std::mt19937 rng_;
  size_t fail_after_;
  std::vector<std::byte> taken_;
};

TEST_P(PooledOpsTest, CopyIntoAFaultyWriterLosesAndDuplicatesNothing) {
  const std::vector<std::byte> data = RandomBytes(300000, 4);
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteAllThenShutdown(&p->client, &data));
    FaultyWriter sink(5, /*fail_after=*/SIZE_MAX);
    absl::StatusOr<uint64_t> copied = co_await pooled_copy(p->server, sink, {.max_chunk = 8192});
    if (!copied.ok()) co_return copied.status();
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    if (*copied != data.size() || sink.taken() != data) {
      co_return absl::DataLossError("copied bytes differ");
    }
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(PooledOpsTest, ResetMidStreamIsAnErrorWithTheCount) {
  const std::vector<std::byte> data = RandomBytes(200000, 6);
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteAllThenShutdown(&p->client, &data));
    FaultyWriter sink(7, /*fail_after=*/70000);
    absl::StatusOr<uint64_t> copied = co_await pooled_copy(p->server, sink, {.max_chunk = 8192});
    if (copied.ok()) co_return absl::InternalError("a reset must fail the copy");
    if (copied.status().message().find("after 70000 bytes copied") == absl::string_view::npos) {
      co_return absl::InternalError("message must give the count: " + copied.status().ToString());
    }
    // What the writer took is exactly the stream's prefix.
    if (!std::equal(sink.taken().begin(), sink.taken().end(), data.begin())) {
      co_return absl::DataLossError("the prefix differs");
    }
    p->server.close();
    (void)co_await writer;  // the peer's writes may fail now; that is fine
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

Task<size_t> PoolBytesInUse() { co_return PoolBytesBeyondRing(); }

TEST_P(PooledOpsTest, CancellingAPendingPooledReadReturnsEverything) {
  const int fds_before = testing_io::CountOpenFds();
  {
    absl::StatusOr<ConnectedPair> p = rt_->block_on(Connect(&*listener_));
    ASSERT_TRUE(p.ok()) << p.status();
    JoinHandle<absl::StatusOr<std::optional<PoolBytes>>> pending =
        rt_->spawn([](TcpStream* s) -> Task<absl::StatusOr<std::optional<PoolBytes>>> {
          co_return co_await pooled_read(*s, 4096);
        }(&p->server));
    absl::Status slept = rt_->block_on([]() -> Task<absl::Status> {
      co_await sleep_for(absl::Milliseconds(20));
      co_return absl::OkStatus();
    }());
    ASSERT_TRUE(slept.ok());
    pending.cancel();
    EXPECT_EQ(pending.BlockingJoin().status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(*rt_->block_on(PoolBytesInUse()), 0u);
    EXPECT_TRUE(rt_->block_on([](ConnectedPair* pair) -> Task<void> {
                     pair->client.close();
                     pair->server.close();
                     co_return;
                   }(&*p))
                    .ok());
  }
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(Backends, PooledOpsTest,
                         ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
