// Tests for io/ring_read.h: pooled_read through the core's io_uring
// provided-buffer ring. Exact bytes under random chunking (both backends; on
// epoll the readiness path), idle connections with armed recvs holding no
// pool memory beyond the ring's fixed buffers, ring exhaustion falling back
// to readiness reads without losing or reordering bytes, cancellation giving
// everything back, the disabled ring, pipes (not sockets) staying on the
// readiness path, shutdown with recvs in flight, and the core's batched
// waits (many armed recvs) delivering every wake-up, and the registered-file
// table that ring connections' recvs and sends name their socket by.
#include "io/ring_read.h"

#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/pipe.h"
#include "io/pooled_ops.h"
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

// Writes `data` in random chunks with random yields in between, then FIN.
Task<absl::Status> WriteChunked(TcpStream* s, const std::vector<std::byte>* data, uint32_t seed) {
  std::mt19937 rng(seed);
  size_t off = 0;
  while (off < data->size()) {
    const size_t n = std::min<size_t>(data->size() - off, 1 + rng() % 40000);
    if (absl::Status st = co_await s->write_all(std::span(data->data() + off, n)); !st.ok()) {
      co_return st;
    }
    off += n;
    if (rng() % 3 == 0) co_await yield_now();
  }
  co_return s->shutdown(SHUT_WR);
}

// Reads to EOF with pooled_read, `max` random in {0, 1..20000} per read.
Task<absl::StatusOr<std::vector<std::byte>>> ReadAll(TcpStream* s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> got;
  for (;;) {
    const size_t max = rng() % 4 == 0 ? 0 : 1 + rng() % 20000;
    absl::StatusOr<std::optional<PoolBytes>> bytes = co_await pooled_read(*s, max);
    if (!bytes.ok()) co_return bytes.status();
    if (!bytes->has_value()) co_return got;
    if ((*bytes)->empty() || (max != 0 && (*bytes)->size() > max)) {
      co_return absl::InternalError(absl::StrCat("chunk of ", (*bytes)->size(), ", max ", max));
    }
    got.insert(got.end(), (*bytes)->span().begin(), (*bytes)->span().end());
  }
}

// Waits (yielding to the reactor) until `pred()` holds; false after
// `rounds` short sleeps without it.
template <class Pred>
Task<bool> Eventually(Pred pred, int rounds = 5000) {
  for (int i = 0; i < rounds; ++i) {
    if (pred()) co_return true;
    co_await sleep_for(absl::Milliseconds(1));
  }
  co_return pred();
}

size_t PoolBytesInUse() { return BufferPool::ForThisThread().Stats().bytes_in_use; }

class RingReadTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    absl::StatusOr<TcpListener> l = TcpListener::bind(Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    listener_.emplace(*std::move(l));
  }
  void TearDown() override {
    listener_.reset();
    rt_.reset();
  }
  bool uring() const { return std::string(rt_->backend_name()) == "io_uring"; }

  std::optional<Runtime> rt_;
  std::optional<TcpListener> listener_;
};

TEST_P(RingReadTest, ByteStreamIsExactUnderRandomChunking) {
  static constexpr int kConns = 4;
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < kConns; ++i) data.push_back(RandomBytes(300000 + i * 777, 10 + i));
  absl::StatusOr<RecvRingStats> stats = rt_->block_on([&]() -> Task<absl::StatusOr<RecvRingStats>> {
    std::vector<ConnectedPair> pairs;
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
      if (!p.ok()) co_return p.status();
      pairs.push_back(*std::move(p));
    }
    std::vector<JoinHandle<absl::Status>> writers;
    std::vector<JoinHandle<absl::StatusOr<std::vector<std::byte>>>> readers;
    for (int i = 0; i < kConns; ++i) {
      writers.push_back(spawn(WriteChunked(&pairs[i].client, &data[i], 100 + i)));
      readers.push_back(spawn(ReadAll(&pairs[i].server, 200 + i)));
    }
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<std::vector<std::byte>> got = co_await readers[i];
      if (!got.ok()) co_return got.status();
      if (*got != data[i]) co_return absl::DataLossError(absl::StrCat("stream ", i, " differs"));
      if (absl::Status w = co_await writers[i]; !w.ok()) co_return w;
    }
    co_return recv_ring_stats();
  }());
  ASSERT_TRUE(stats.ok()) << stats.status();
  if (uring()) {
    EXPECT_TRUE(stats->active);
    EXPECT_GT(stats->completions, 0u);
    // Every byte came through the ring, unless the ring ran dry (four
    // streams of small writes can take all 16 large buffers in one loop
    // iteration): then ENOBUFS sent some through readiness reads.
    if (stats->enobufs == 0) {
      EXPECT_GE(stats->bytes_received, 300000u * kConns);
    } else {
      EXPECT_GT(stats->fallback_reads, 0u);
    }
    EXPECT_EQ(stats->queued_buffers, 0u);
  } else {
    EXPECT_FALSE(stats->active);
    EXPECT_EQ(stats->arms, 0u);
  }
}

TEST_P(RingReadTest, IdleConnectionsHoldNoPoolBytesBeyondTheRing) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  static constexpr int kConns = 200;
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    std::vector<ConnectedPair> pairs;
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
      if (!p.ok()) co_return p.status();
      pairs.push_back(*std::move(p));
    }
    std::vector<JoinHandle<absl::StatusOr<std::optional<PoolBytes>>>> reads;
    for (auto& p : pairs) {
      reads.push_back(spawn([](TcpStream* s) -> Task<absl::StatusOr<std::optional<PoolBytes>>> {
        co_return co_await pooled_read(*s);
      }(&p.server)));
    }
    if (!co_await Eventually([] { return recv_ring_stats().recvs_in_flight == kConns; })) {
      co_return absl::InternalError("the recvs were not armed");
    }
    const RecvRingStats idle = recv_ring_stats();
    if (!idle.active || idle.connections != kConns || idle.queued_buffers != 0) {
      co_return absl::InternalError("unexpected ring state while idle");
    }
    // Every pool byte in use is one of the ring's own fixed buffers.
    if (PoolBytesInUse() != idle.bytes_registered ||
        idle.bytes_registered != size_t{idle.buffers} * idle.buffer_size) {
      co_return absl::InternalError(absl::StrCat("idle: pool ", PoolBytesInUse(), " ring ",
                                                 idle.bytes_registered));
    }
    for (int i = 0; i < kConns; ++i) {
      const std::byte b{static_cast<unsigned char>(i)};
      if (absl::Status w = co_await pairs[i].client.write_all(std::span(&b, 1)); !w.ok()) {
        co_return w;
      }
    }
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<std::optional<PoolBytes>> got = co_await reads[i];
      if (!got.ok()) co_return got.status();
      if (!got->has_value() || (*got)->size() != 1 ||
          (*got)->data()[0] != std::byte{static_cast<unsigned char>(i)}) {
        co_return absl::DataLossError(absl::StrCat("connection ", i));
      }
    }
    pairs.clear();  // closes: the recvs are cancelled
    if (!co_await Eventually([] {
          RecvRingStats st = recv_ring_stats();
          return st.recvs_in_flight == 0 && st.connections == 0;
        })) {
      co_return absl::InternalError("recvs still in flight after close");
    }
    if (PoolBytesInUse() != recv_ring_stats().bytes_registered) {
      co_return absl::InternalError("pool bytes held after close");
    }
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(RingReadTest, ExhaustedRingFallsBackWithoutLosingBytes) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  static constexpr int kConns = 32;
  static constexpr size_t kFirst = 2048;
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < kConns; ++i) data.push_back(RandomBytes(64 * 1024 + i, 300 + i));
  absl::StatusOr<RecvRingStats> stats = rt_->block_on([&]() -> Task<absl::StatusOr<RecvRingStats>> {
    if (absl::Status c = ConfigureRecvRing({.entries = 2, .buffer_size = 4096}); !c.ok()) {
      co_return c;
    }
    std::vector<ConnectedPair> pairs;
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
      if (!p.ok()) co_return p.status();
      pairs.push_back(*std::move(p));
    }
    std::vector<JoinHandle<absl::StatusOr<std::vector<std::byte>>>> readers;
    for (int i = 0; i < kConns; ++i) readers.push_back(spawn(ReadAll(&pairs[i].server, 400 + i)));
    if (!co_await Eventually([] { return recv_ring_stats().recvs_in_flight == kConns; })) {
      co_return absl::InternalError("the recvs were not armed");
    }
    // Data for every connection before the core next enters the kernel:
    // 32 recvs complete together against a ring of 2 buffers.
    for (int i = 0; i < kConns; ++i) {
      if (absl::Status w = co_await pairs[i].client.write_all(std::span(data[i].data(), kFirst));
          !w.ok()) {
        co_return w;
      }
    }
    std::vector<JoinHandle<absl::Status>> writers;
    for (int i = 0; i < kConns; ++i) {
      writers.push_back(spawn([](TcpStream* s, std::span<const std::byte> rest) -> Task<absl::Status> {
        if (absl::Status st = co_await s->write_all(rest); !st.ok()) co_return st;
        co_return s->shutdown(SHUT_WR);
      }(&pairs[i].client, std::span<const std::byte>(data[i]).subspan(kFirst))));
    }
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<std::vector<std::byte>> got = co_await readers[i];
      if (!got.ok()) co_return got.status();
      if (*got != data[i]) co_return absl::DataLossError(absl::StrCat("stream ", i, " differs"));
      if (absl::Status w = co_await writers[i]; !w.ok()) co_return w;
    }
    co_return recv_ring_stats();
  }());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->buffers, 2u);
  EXPECT_GT(stats->enobufs, 0u);
  EXPECT_GT(stats->fallback_reads, 0u);
  EXPECT_GT(stats->completions, 0u);
}

TEST_P(RingReadTest, ASlowReaderQueuesAtMostTheCapThenGetsEveryByte) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  static constexpr size_t kCap = 64 * 1024;
  static constexpr size_t kBuffer = 4096;
  const std::vector<std::byte> data = RandomBytes(4 << 20, 77);
  struct Outcome {
    RecvRingStats while_stalled;
    bool equal = false;
  };
  absl::StatusOr<Outcome> out = rt_->block_on([&]() -> Task<absl::StatusOr<Outcome>> {
    if (absl::Status c = ConfigureRecvRing(
            {.entries = 64, .buffer_size = kBuffer, .large_buffer_size = 0,
             .max_queued_bytes_per_connection = kCap});
        !c.ok()) {
      co_return c;
    }
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    // One small read arms the multishot recv; then the reader stalls while
    // the writer pushes 4 MiB.
    const std::byte hello[1] = {std::byte{1}};
    if (absl::Status w = co_await p->client.write_all(hello); !w.ok()) co_return w;
    absl::StatusOr<std::optional<PoolBytes>> first = co_await pooled_read(p->server);
    if (!first.ok() || !first->has_value()) co_return absl::InternalError("first read");
    JoinHandle<absl::Status> writer = spawn([](TcpStream* s, const std::vector<std::byte>* d) -> Task<absl::Status> {
      if (absl::Status st = co_await s->write_all(std::span(*d)); !st.ok()) co_return st;
      co_return s->shutdown(SHUT_WR);
    }(&p->client, &data));
    co_await sleep_for(absl::Milliseconds(200));
    Outcome o;
    o.while_stalled = recv_ring_stats();
    absl::StatusOr<std::vector<std::byte>> got = co_await ReadAll(&p->server, 5);
    if (!got.ok()) co_return got.status();
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    o.equal = *got == data;
    co_return o;
  }());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->equal) << "bytes lost, duplicated or reordered";
  EXPECT_GE(out->while_stalled.queue_cap_pauses, 1u);
  // The cancel races with completions already in the CQ, which hold at most
  // every ring buffer (64 x 4 KiB); without the cap all 4 MiB would queue.
  EXPECT_LE(out->while_stalled.queued_bytes, kCap + 64 * kBuffer);
}

TEST_P(RingReadTest, AStreamMovesToTheLargeGroupAndSmallMessagesDoNot) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  const std::vector<std::byte> stream = RandomBytes(8 << 20, 91);
  struct Outcome {
    RecvRingStats after_small;
    RecvRingStats after_stream;
    size_t largest_chunk = 0;
    bool equal = false;
  };
  absl::StatusOr<Outcome> out = rt_->block_on([&]() -> Task<absl::StatusOr<Outcome>> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    Outcome o;
    // Ping-pong sized messages: every completion is far below 16 KiB.
    for (int i = 0; i < 50; ++i) {
      const std::byte msg[100] = {};
      if (absl::Status w = co_await p->client.write_all(msg); !w.ok()) co_return w;
      size_t got = 0;
      while (got < sizeof(msg)) {
        absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->server);
        if (!b.ok() || !b->has_value()) co_return absl::InternalError("small read");
        got += (*b)->size();
      }
    }
    o.after_small = recv_ring_stats();
    // Then a bulk stream.
    JoinHandle<absl::Status> writer = spawn([](TcpStream* s, const std::vector<std::byte>* d) -> Task<absl::Status> {
      if (absl::Status st = co_await s->write_all(std::span(*d)); !st.ok()) co_return st;
      co_return s->shutdown(SHUT_WR);
    }(&p->client, &stream));
    std::vector<std::byte> got;
    for (;;) {
      absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->server);
      if (!b.ok()) co_return b.status();
      if (!b->has_value()) break;
      o.largest_chunk = std::max(o.largest_chunk, (*b)->size());
      got.insert(got.end(), (*b)->span().begin(), (*b)->span().end());
    }
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    o.after_stream = recv_ring_stats();
    o.equal = got == stream;
    co_return o;
  }());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->equal) << "bytes lost, duplicated or reordered";
  EXPECT_EQ(out->after_small.group_switches, 0u);
  EXPECT_EQ(out->after_small.large_buffers, 0u);  // not even registered
  EXPECT_GE(out->after_stream.group_switches, 1u);
  EXPECT_EQ(out->after_stream.large_buffer_size, 128u * 1024);  // the default
  EXPECT_GT(out->largest_chunk, 16u * 1024);  // completions from the large group
}

TEST(RingReadOptions, LargeGroupOptionsAreValidated) {
  EXPECT_EQ(io_internal::ValidateRecvRingOptions({.buffer_size = 8192, .large_buffer_size = 8192})
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io_internal::ValidateRecvRingOptions(
                {.buffer_size = 8192, .large_buffer_size = 65536, .large_entries = 3})
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(io_internal::ValidateRecvRingOptions({.large_buffer_size = 0}).ok());
}

TEST(RingReadOptions, QueueCapBelowTheBufferSizeIsRejected) {
  absl::Status s = io_internal::ValidateRecvRingOptions(
      {.buffer_size = 8192, .max_queued_bytes_per_connection = 4096});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_queued_bytes_per_connection"), std::string::npos) << s;
}

TEST_P(RingReadTest, CancellingAPendingRingReadReturnsEverything) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  const int fds_before = testing_io::CountOpenFds();
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::StatusOr<std::optional<PoolBytes>>> pending =
        spawn([](TcpStream* s) -> Task<absl::StatusOr<std::optional<PoolBytes>>> {
          co_return co_await pooled_read(*s);
        }(&p->server));
    if (!co_await Eventually([] { return recv_ring_stats().recvs_in_flight == 1; })) {
      co_return absl::InternalError("the recv was not armed");
    }
    pending.cancel();
    if (absl::StatusOr<std::optional<PoolBytes>> r = co_await pending;
        r.status().code() != absl::StatusCode::kCancelled) {
      co_return absl::InternalError("the read was not cancelled");
    }
    // The multishot recv is cancelled with the read; the stream lives on.
    if (!co_await Eventually([] { return recv_ring_stats().recvs_in_flight == 0; })) {
      co_return absl::InternalError("the recv is still in flight");
    }
    if (PoolBytesInUse() != recv_ring_stats().bytes_registered) {
      co_return absl::InternalError("pool bytes held after the cancel");
    }
    // Bytes sent afterwards reach the next read, in order.
    const std::vector<std::byte> data = RandomBytes(5000, 7);
    if (absl::Status w = co_await p->client.write_all(data); !w.ok()) co_return w;
    std::vector<std::byte> got;
    while (got.size() < data.size()) {
      absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->server);
      if (!b.ok()) co_return b.status();
      if (!b->has_value()) co_return absl::DataLossError("early EOF");
      got.insert(got.end(), (*b)->span().begin(), (*b)->span().end());
    }
    if (got != data) co_return absl::DataLossError("bytes differ after the cancel");
    p->client.close();
    p->server.close();
    if (!co_await Eventually([] {
          RecvRingStats st = recv_ring_stats();
          return st.recvs_in_flight == 0 && st.connections == 0;
        })) {
      co_return absl::InternalError("ring state left after close");
    }
    if (PoolBytesInUse() != recv_ring_stats().bytes_registered) {
      co_return absl::InternalError("pool bytes held after close");
    }
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
}

TEST_P(RingReadTest, DisabledRingUsesTheReadinessPath) {
  const std::vector<std::byte> data = RandomBytes(100000, 9);
  absl::StatusOr<RecvRingStats> stats = rt_->block_on([&]() -> Task<absl::StatusOr<RecvRingStats>> {
    absl::Status c = ConfigureRecvRing({.enabled = false});
    if (!c.ok() && !(absl::IsUnavailable(c) && !uring())) co_return c;
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteChunked(&p->client, &data, 11));
    absl::StatusOr<std::vector<std::byte>> got = co_await ReadAll(&p->server, 12);
    if (!got.ok()) co_return got.status();
    if (*got != data) co_return absl::DataLossError("bytes differ");
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    if (ConfigureRecvRing({}).ok()) co_return absl::InternalError("reconfigured after first use");
    co_return recv_ring_stats();
  }());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->active);
  EXPECT_EQ(stats->arms, 0u);
  EXPECT_EQ(stats->connections, 0u);
}

TEST_P(RingReadTest, EnvironmentVariableDisablesTheRing) {
  rt_.reset();
  ASSERT_EQ(::setenv("READBUF_RECV_RING", "off", 1), 0);
  rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  const std::vector<std::byte> data = RandomBytes(20000, 13);
  absl::StatusOr<RecvRingStats> stats = rt_->block_on([&]() -> Task<absl::StatusOr<RecvRingStats>> {
    absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer = spawn(WriteChunked(&p->client, &data, 14));
    absl::StatusOr<std::vector<std::byte>> got = co_await ReadAll(&p->server, 15);
    if (!got.ok()) co_return got.status();
    if (*got != data) co_return absl::DataLossError("bytes differ");
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    co_return recv_ring_stats();
  }());
  ::unsetenv("READBUF_RECV_RING");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->active);
  EXPECT_EQ(stats->arms, 0u);
}

TEST_P(RingReadTest, PipesKeepTheReadinessPath) {
  const std::vector<std::byte> data = RandomBytes(50000, 19);
  absl::StatusOr<RecvRingStats> stats = rt_->block_on([&]() -> Task<absl::StatusOr<RecvRingStats>> {
    absl::StatusOr<Pipe> p = Pipe::Create();
    if (!p.ok()) co_return p.status();
    JoinHandle<absl::Status> writer =
        spawn([](PipeWriter* w, const std::vector<std::byte>* d) -> Task<absl::Status> {
          if (absl::Status st = co_await w->write_all(*d); !st.ok()) co_return st;
          w->async_fd().close();
          co_return absl::OkStatus();
        }(&p->writer, &data));
    std::vector<std::byte> got;
    for (;;) {
      absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->reader, 7000);
      if (!b.ok()) co_return b.status();
      if (!b->has_value()) break;
      got.insert(got.end(), (*b)->span().begin(), (*b)->span().end());
    }
    if (got != data) co_return absl::DataLossError("bytes differ");
    if (absl::Status w = co_await writer; !w.ok()) co_return w;
    co_return recv_ring_stats();
  }());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->arms, 0u);
}

TEST_P(RingReadTest, ShutdownWithArmedRecvsFreesEverything) {
  const int fds_before = testing_io::CountOpenFds();
  auto pairs = std::make_shared<std::vector<ConnectedPair>>();
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    for (int i = 0; i < 8; ++i) {
      absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
      if (!p.ok()) co_return p.status();
      pairs->push_back(*std::move(p));
    }
    co_return absl::OkStatus();
  }());
  ASSERT_TRUE(s.ok()) << s;
  // Tasks that own their connection and wait in a ring read forever; one
  // connection also has unread bytes queued.
  for (auto& p : *pairs) {
    (void)rt_->spawn([](TcpStream conn) -> Task<void> {
      for (;;) {
        absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(conn);
        if (!b.ok() || !b->has_value()) co_return;
      }
    }(std::move(p.server)));
  }
  const std::vector<std::byte> data = RandomBytes(1000, 17);
  ASSERT_TRUE(rt_->block_on([&]() -> Task<absl::Status> {
                    co_return co_await (*pairs)[0].client.write_all(data);
                  }())
                  .ok());
  rt_->Shutdown(absl::ZeroDuration());  // cancels the readers; waits for the recvs' CQEs
  pairs->clear();
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
}

// A ring echo as the example server runs it: pooled_read, then send_all
// (IORING_OP_SEND on io_uring) from the same block, until EOF.
Task<void> RingEcho(TcpStream conn) {
  for (;;) {
    absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(conn);
    if (!b.ok() || !b->has_value()) co_return;
    if (!(co_await conn.send_all((*b)->span())).ok()) co_return;
  }
}

// Sends `n` bytes on `client`, reads them back, then half-closes and waits
// for the echo's EOF: the server's close must reach the peer even though its
// socket was in the ring's file table.
Task<absl::Status> EchoRoundAndClose(TcpStream* client, std::size_t n, std::uint32_t seed) {
  const std::vector<std::byte> data = RandomBytes(n, seed);
  if (absl::Status w = co_await client->write_all(data); !w.ok()) co_return w;
  std::vector<std::byte> got(n);
  std::size_t have = 0;
  while (have < n) {
    absl::StatusOr<std::size_t> r = co_await timeout(
        client->read(std::span(got).subspan(have)), absl::Seconds(10));
    if (!r.ok()) co_return r.status();
    if (*r == 0) co_return absl::DataLossError(absl::StrCat("EOF after ", have, " bytes"));
    have += *r;
  }
  if (got != data) co_return absl::DataLossError("echoed bytes differ");
  if (absl::Status sh = client->shutdown(SHUT_WR); !sh.ok()) co_return sh;
  std::byte one;
  absl::StatusOr<std::size_t> eof =
      co_await timeout(client->read(std::span(&one, 1)), absl::Seconds(10));
  if (!eof.ok()) co_return eof.status();  // DeadlineExceeded: the close never came
  if (*eof != 0) co_return absl::InternalError("bytes after the echo");
  co_return absl::OkStatus();
}

// Runs `conns` ring echoes to completion; returns the ring's stats seen while
// all of them were attached (once their recvs are armed, with a `ring`).
Task<absl::StatusOr<RecvRingStats>> EchoOnFreshConnections(TcpListener* listener, int conns,
                                                           std::uint32_t seed, bool ring) {
  std::vector<TcpStream> clients;
  std::vector<JoinHandle<void>> echoes;
  for (int i = 0; i < conns; ++i) {
    absl::StatusOr<ConnectedPair> p = co_await Connect(listener);
    if (!p.ok()) co_return p.status();
    clients.push_back(std::move(p->client));
    echoes.push_back(spawn(RingEcho(std::move(p->server))));
  }
  const std::uint64_t want = static_cast<std::uint64_t>(conns);
  if (ring &&
      !co_await Eventually([want] { return recv_ring_stats().recvs_in_flight == want; })) {
    co_return absl::InternalError("the recvs were not armed");
  }
  const RecvRingStats attached = recv_ring_stats();
  for (int i = 0; i < conns; ++i) {
    absl::Status s = co_await EchoRoundAndClose(&clients[i], 3000 + 97 * i, seed + i);
    if (!s.ok()) co_return absl::Status(s.code(), absl::StrCat("connection ", i, ": ", s.message()));
  }
  for (JoinHandle<void>& e : echoes) {
    if (absl::Status done = co_await e; !done.ok()) co_return done;
  }
  co_return attached;
}

// On io_uring, each ring connection's socket sits in the ring's registered-file
// table while it is open (its recv and its sends name the table index), the
// entry goes when the connection closes, and the freed entries serve the next
// connections. On epoll there is no table.
TEST_P(RingReadTest, RingConnectionsUseTheRegisteredFileTableAndGiveItBack) {
  static constexpr int kConns = 24;
  const int fds_before = testing_io::CountOpenFds();
  absl::Status s = rt_->block_on([&]() -> Task<absl::Status> {
    for (int round = 0; round < 3; ++round) {
      absl::StatusOr<RecvRingStats> attached =
          co_await EchoOnFreshConnections(&*listener_, kConns, 100u * round, uring());
      if (!attached.ok()) co_return attached.status();
      const std::uint64_t want = uring() ? kConns : 0;
      if (attached->registered_files != want || attached->file_registration_failures != 0) {
        co_return absl::InternalError(absl::StrCat(
            "round ", round, ": ", attached->registered_files, " registered files, ",
            attached->file_registration_failures, " failures; want ", want));
      }
      if (!co_await Eventually([] { return recv_ring_stats().registered_files == 0; })) {
        co_return absl::InternalError(absl::StrCat("round ", round, ": entries left after close"));
      }
    }
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(testing_io::CountOpenFds(), fds_before);
}

TEST_P(RingReadTest, EnvironmentVariableTurnsTheFileTableOff) {
  rt_.reset();
  ASSERT_EQ(::setenv("READBUF_FIXED_FILES", "0", 1), 0);
  rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<RecvRingStats> attached =
      rt_->block_on(EchoOnFreshConnections(&*listener_, 8, 7, uring()));
  ::unsetenv("READBUF_FIXED_FILES");
  ASSERT_TRUE(attached.ok()) << attached.status();
  EXPECT_EQ(attached->registered_files, 0u);
  EXPECT_EQ(attached->file_registration_failures, 0u);
  if (uring()) {
    EXPECT_EQ(attached->connections, 8u);  // the ring itself still serves them
  }
}

// True if this kernel lets a wait hold completions back for a minimum time
// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12), which the core's batched waits need.
bool KernelHasMinWait() {
  io_uring ring;
  io_uring_params p{};
  if (io_uring_queue_init_params(2, &ring, &p) != 0) return false;
  io_uring_queue_exit(&ring);
  constexpr unsigned kFeatMinTimeout = 1u << 15;
  return (p.features & kFeatMinTimeout) != 0;
}

// Blocks (the test thread, outside the runtime) until `fd` has a byte, for
// at most 10 s, and reads it; -1 if none came.
int ReadOneByteBlocking(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, 10'000) != 1) return -1;
  unsigned char b;
  return ::read(fd, &b, 1) == 1 ? b : -1;
}

// With many ring reads parked, the core asks the kernel for many completions
// per wait and lets them gather for a moment. A lone message to one of the
// connections, messages to all of them at once, and a timer must still each
// end the wait: nothing may sit in the socket unanswered. The messages come
// from outside the runtime, so only the kernel can wake the core.
TEST_P(RingReadTest, BatchedWaitsDeliverEveryWakeUp) {
  if (!uring()) GTEST_SKIP() << "no provided-buffer ring on " << rt_->backend_name();
  static constexpr int kConns = 64;
  auto pairs = std::make_shared<std::vector<ConnectedPair>>();
  ASSERT_TRUE(rt_->block_on([&]() -> Task<absl::Status> {
                    for (int i = 0; i < kConns; ++i) {
                      absl::StatusOr<ConnectedPair> p = co_await Connect(&*listener_);
                      if (!p.ok()) co_return p.status();
                      pairs->push_back(*std::move(p));
                    }
                    co_return absl::OkStatus();
                  }())
                  .ok());
  for (auto& p : *pairs) {
    (void)rt_->spawn([](TcpStream conn) -> Task<void> {
      for (;;) {
        absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(conn);
        if (!b.ok() || !b->has_value()) co_return;
        if (!(co_await conn.write_all((*b)->span())).ok()) co_return;
      }
    }(std::move(p.server)));
  }
  const absl::StatusOr<bool> armed =
      rt_->block_on(Eventually([] { return recv_ring_stats().recvs_in_flight == kConns; }));
  ASSERT_TRUE(armed.ok() && *armed);

  std::mt19937 rng(5);
  for (int round = 0; round < 400; ++round) {
    if (round % 50 == 49) {  // every connection at once
      for (int i = 0; i < kConns; ++i) {
        const unsigned char b = static_cast<unsigned char>(round + i);
        ASSERT_EQ(::write((*pairs)[i].client.async_fd().fd(), &b, 1), 1);
      }
      for (int i = 0; i < kConns; ++i) {
        ASSERT_EQ(ReadOneByteBlocking((*pairs)[i].client.async_fd().fd()),
                  static_cast<unsigned char>(round + i))
            << "connection " << i << " in round " << round;
      }
      continue;
    }
    const int i = static_cast<int>(rng() % kConns);  // one connection alone
    const unsigned char b = static_cast<unsigned char>(round);
    ASSERT_EQ(::write((*pairs)[i].client.async_fd().fd(), &b, 1), 1);
    ASSERT_EQ(ReadOneByteBlocking((*pairs)[i].client.async_fd().fd()), b)
        << "connection " << i << " in round " << round;
  }
  // A timer on the same core ends a batched wait by its deadline.
  ASSERT_TRUE(rt_->block_on([]() -> Task<absl::Status> {
                    co_await sleep_for(absl::Milliseconds(5));
                    co_return absl::OkStatus();
                  }())
                  .ok());
  const absl::StatusOr<RecvRingStats> st =
      rt_->block_on([]() -> Task<RecvRingStats> { co_return recv_ring_stats(); }());
  ASSERT_TRUE(st.ok()) << st.status();
  if (KernelHasMinWait() && std::getenv("READBUF_MIN_WAIT") == nullptr &&
      std::getenv("READBUF_ABS_TIMER") == nullptr) {
    EXPECT_GT(st->batched_waits, 0u);
  }
  rt_->Shutdown(absl::ZeroDuration());  // cancels the parked readers
  pairs->clear();
}

INSTANTIATE_TEST_SUITE_P(Backends, RingReadTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
