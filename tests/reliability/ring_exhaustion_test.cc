// Fault injection: the io_uring provided-buffer ring runs out of buffers,
// not once (tests/io/ring_read_test covers a single burst) but continuously:
// a one-buffer ring under echo traffic on many connections, and connections
// reset by their peers while the ring is empty.
// Expected: every byte echoed exactly, in order (ENOBUFS only sends reads
// through the readiness path); a reset gives a prefix of the sent bytes and
// then an error naming the recv/read; and afterwards the ring's accounting is
// back at its floor: no connection state, no queued buffers, no recv in
// flight, and the core's pool holding exactly the ring's own buffers.
// Skipped on a core where io_uring (or its provided rings) is unavailable.
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/reliability/fault_test_util.h"

namespace readbuf {
namespace {

using reliability::ConnectedPair;
using reliability::ConnectPair;
using reliability::SeededBytes;

constexpr int kConns = 48;
constexpr int kRounds = 3;
constexpr size_t kMessage = 20000;

template <class Pred>
Task<bool> Eventually(Pred pred) {
  for (int i = 0; i < 3000 && !pred(); ++i) co_await sleep_for(absl::Milliseconds(1));
  co_return pred();
}

size_t PoolBytesInUse() { return BufferPool::ForThisThread().Stats().bytes_in_use; }

// The ring's state is back at its floor: nothing per connection.
bool RingAtFloor() {
  const RecvRingStats st = recv_ring_stats();
  return st.connections == 0 && st.recvs_in_flight == 0 && st.queued_buffers == 0 &&
         st.queued_pool_bytes == 0 && PoolBytesInUse() == st.bytes_registered;
}

// The server side: echoes what pooled_read gives until EOF or an error.
Task<absl::Status> RingEcho(TcpStream conn) {
  for (;;) {
    absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(conn);
    if (!b.ok()) co_return b.status();
    if (!b->has_value()) co_return absl::OkStatus();
    if (absl::Status w = co_await conn.write_all((*b)->span()); !w.ok()) co_return w;
  }
}

// The client side: `kRounds` messages, each echoed back exactly.
Task<absl::Status> Client(TcpStream* s, uint32_t seed) {
  Uninit buf(64 * 1024);
  for (int round = 0; round < kRounds; ++round) {
    const std::vector<std::byte> data = SeededBytes(kMessage, seed * 16 + round);
    if (absl::Status w = co_await s->write_all(data); !w.ok()) co_return w;
    std::vector<std::byte> got;
    while (got.size() < data.size()) {
      absl::StatusOr<size_t> n = co_await read_into(*s, buf);
      if (!n.ok()) co_return n.status();
      if (*n == 0) co_return absl::DataLossError("EOF before the echo");
      got.insert(got.end(), buf.filled().begin(), buf.filled().end());
      buf.clear();
    }
    if (got != data) co_return absl::DataLossError(absl::StrCat("connection ", seed, " round ", round));
  }
  co_return s->shutdown(SHUT_WR);
}

Task<absl::StatusOr<RecvRingStats>> SustainedExhaustion(TcpListener* listener) {
  if (absl::Status c = ConfigureRecvRing({.entries = 1, .buffer_size = 1024}); !c.ok()) {
    co_return c;
  }
  std::vector<TcpStream> clients;
  std::vector<JoinHandle<absl::Status>> servers;
  for (int i = 0; i < kConns; ++i) {
    absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
    if (!p.ok()) co_return p.status();
    servers.push_back(spawn(RingEcho(std::move(p->server))));
    clients.push_back(std::move(p->client));
  }
  std::vector<JoinHandle<absl::Status>> runs;
  for (int i = 0; i < kConns; ++i) runs.push_back(spawn(Client(&clients[i], i)));
  for (auto& r : runs) {
    if (absl::Status s = co_await r; !s.ok()) co_return s;
  }
  for (auto& s : servers) {
    if (absl::Status st = co_await s; !st.ok()) co_return st;
  }
  const RecvRingStats during = recv_ring_stats();
  clients.clear();
  if (!co_await Eventually(RingAtFloor)) {
    co_return absl::InternalError(absl::StrCat("not back at the floor: pool ", PoolBytesInUse(),
                                               " ring ", recv_ring_stats().bytes_registered));
  }
  co_return during;
}

// Every connection gets data the empty ring cannot take, then a RST.
Task<absl::Status> ResetWhileExhausted(TcpListener* listener) {
  if (absl::Status c = ConfigureRecvRing({.entries = 1, .buffer_size = 512}); !c.ok()) {
    co_return c;
  }
  std::vector<ConnectedPair> pairs;
  for (int i = 0; i < kConns; ++i) {
    absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
    if (!p.ok()) co_return p.status();
    pairs.push_back(*std::move(p));
  }
  std::vector<JoinHandle<absl::Status>> readers;
  std::vector<std::vector<std::byte>> sent;
  for (int i = 0; i < kConns; ++i) sent.push_back(SeededBytes(4000 + i, 900 + i));
  for (int i = 0; i < kConns; ++i) {
    readers.push_back(spawn([](TcpStream* s, const std::vector<std::byte>* data) -> Task<absl::Status> {
      std::vector<std::byte> got;
      for (;;) {
        absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(*s);
        if (!b.ok()) {
          const absl::string_view m = b.status().message();
          if (!absl::StrContains(m, "(fd=") || !absl::StrContains(m, "reset")) {
            co_return absl::InternalError(absl::StrCat("unclear error: ", b.status().ToString()));
          }
          co_return absl::OkStatus();
        }
        if (!b->has_value()) co_return absl::InternalError("EOF instead of a reset error");
        got.insert(got.end(), (*b)->span().begin(), (*b)->span().end());
        if (got.size() > data->size() || !std::equal(got.begin(), got.end(), data->begin())) {
          co_return absl::DataLossError("not a prefix of the bytes sent");
        }
      }
    }(&pairs[i].server, &sent[i])));
  }
  if (!co_await Eventually([] { return recv_ring_stats().recvs_in_flight == kConns; })) {
    co_return absl::InternalError("the recvs were not armed");
  }
  for (int i = 0; i < kConns; ++i) {
    if (absl::Status w = co_await pairs[i].client.write_all(sent[i]); !w.ok()) co_return w;
    reliability::ArmResetOnClose(pairs[i].client.async_fd().fd());
    pairs[i].client.close();
  }
  for (auto& r : readers) {
    if (absl::Status s = co_await r; !s.ok()) co_return s;
  }
  pairs.clear();
  if (!co_await Eventually(RingAtFloor)) {
    co_return absl::InternalError(absl::StrCat("not back at the floor: pool ", PoolBytesInUse(),
                                               " ring ", recv_ring_stats().bytes_registered));
  }
  co_return absl::OkStatus();
}

class RingExhaustionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = BackendKind::kUring});
    if (std::string(rt_->backend_name()) != "io_uring") {
      GTEST_SKIP() << "no io_uring: " << rt_->backend_note();
    }
    absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    listener_.emplace(*std::move(l));
  }
  void TearDown() override {
    listener_.reset();
    rt_.reset();
  }
  std::optional<Runtime> rt_;
  std::optional<TcpListener> listener_;
};

TEST_F(RingExhaustionTest, OneBufferRingUnderLoadKeepsEveryByteAndReturnsToTheFloor) {
  absl::StatusOr<RecvRingStats> st = rt_->block_on(SustainedExhaustion(&*listener_));
  ASSERT_TRUE(st.ok()) << st.status();
  if (!st->active) GTEST_SKIP() << "the kernel has no provided-buffer rings";
  EXPECT_EQ(st->buffers, 1u);
  EXPECT_GT(st->enobufs, 0u);
  EXPECT_GT(st->fallback_reads, 0u);
  EXPECT_GT(st->completions, 0u);
  EXPECT_LE(st->bytes_received, uint64_t{kConns} * kRounds * kMessage);
}

TEST_F(RingExhaustionTest, ResetsWhileTheRingIsEmptyGiveAPrefixThenAnError) {
  absl::Status s = rt_->block_on(ResetWhileExhausted(&*listener_));
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace readbuf
