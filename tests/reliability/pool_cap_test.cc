// Fault injection: the BufferPool's cap (max_bytes_in_use) is reached while
// a server has more connections with data than the cap allows blocks.
// Expected: the read that cannot get memory fails with ResourceExhausted
// naming the pool and the cap; its bytes stay in the socket; the listener
// keeps accepting; the connections that hold blocks keep being served; and
// once memory is given back, the refused connection is served too, with no
// byte lost. At the end every block is back in the pool.
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
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/reliability/fault_test_util.h"

namespace readbuf {
namespace {

using reliability::ConnectedPair;
using reliability::ConnectPair;
using reliability::SeededBytes;

constexpr uint32_t kBlock = 16 * 1024;
constexpr int kHolders = 2;

// What the server shares with the test (all on the one core).
struct ServerState {
  BufferPool* pool = nullptr;
  bool release[kHolders] = {false, false};
  int refusals = 0;
  absl::Status first_refusal;
};

Pooled::Options FixedBlocks(BufferPool* pool) {
  Pooled::Options o;
  o.sizing.min = o.sizing.initial = o.sizing.max = kBlock;
  o.pool = pool;
  return o;
}

// Echoes until EOF. A read refused by the pool's cap is counted and retried
// a little later: the bytes wait in the socket meanwhile.
Task<absl::Status> Echo(TcpStream* conn, Pooled* buf, ServerState* st) {
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(*conn, *buf);
    if (!n.ok()) {
      if (n.status().code() != absl::StatusCode::kResourceExhausted) co_return n.status();
      if (st->refusals++ == 0) st->first_refusal = n.status();
      co_await sleep_for(absl::Milliseconds(2));
      continue;
    }
    if (*n == 0) co_return absl::OkStatus();
    if (absl::Status w = co_await write_filled(*conn, *buf); !w.ok()) co_return w;
    buf->clear();
  }
}

// Reads one request and holds its block (unconsumed) until released, then
// echoes it and serves the connection as Echo does.
Task<absl::Status> HoldThenEcho(TcpStream conn, ServerState* st, int holder) {
  Pooled buf(FixedBlocks(st->pool));
  absl::StatusOr<size_t> n = co_await read_into(conn, buf);
  if (!n.ok()) co_return n.status();
  while (!st->release[holder]) co_await sleep_for(absl::Milliseconds(1));
  if (absl::Status w = co_await write_filled(conn, buf); !w.ok()) co_return w;
  buf.clear();
  co_return co_await Echo(&conn, &buf, st);
}

Task<absl::Status> EchoConnection(TcpStream conn, ServerState* st) {
  Pooled buf(FixedBlocks(st->pool));
  co_return co_await Echo(&conn, &buf, st);
}

// Reads exactly `n` bytes from `s`.
Task<absl::StatusOr<std::vector<std::byte>>> ReadExactly(TcpStream* s, size_t n) {
  std::vector<std::byte> got;
  Uninit buf(64 * 1024);
  while (got.size() < n) {
    absl::StatusOr<size_t> r = co_await read_into(*s, buf, n - got.size());
    if (!r.ok()) co_return r.status();
    if (*r == 0) co_return absl::DataLossError("EOF before the echo");
    got.insert(got.end(), buf.filled().begin(), buf.filled().end());
    buf.clear();
  }
  co_return got;
}

// Reads `want.size()` bytes from `s` and compares them with `want`.
Task<absl::Status> ExpectBytes(TcpStream* s, const std::vector<std::byte>& want,
                               const char* who) {
  absl::StatusOr<std::vector<std::byte>> got = co_await ReadExactly(s, want.size());
  if (!got.ok()) co_return got.status();
  if (*got != want) co_return absl::DataLossError(absl::StrCat(who, ": bytes lost or changed"));
  co_return absl::OkStatus();
}

// Sends `data` and expects it echoed.
Task<absl::Status> ExpectEcho(TcpStream* client, std::vector<std::byte> data) {
  if (absl::Status w = co_await client->write_all(data); !w.ok()) co_return w;
  co_return co_await ExpectBytes(client, data, "echo");
}

template <class Pred>
Task<bool> Eventually(Pred pred) {
  for (int i = 0; i < 3000 && !pred(); ++i) co_await sleep_for(absl::Milliseconds(1));
  co_return pred();
}

Task<absl::Status> CapScenario(TcpListener* listener) {
  BufferPoolOptions options;
  options.max_bytes_in_use = kHolders * kBlock;
  std::optional<BufferPool> pool(std::in_place, options);
  ServerState st;
  st.pool = &*pool;

  // Two connections take the pool's whole cap and hold it.
  std::vector<TcpStream> clients;
  std::vector<JoinHandle<absl::Status>> handlers;
  for (int i = 0; i < kHolders; ++i) {
    absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
    if (!p.ok()) co_return p.status();
    handlers.push_back(spawn(HoldThenEcho(std::move(p->server), &st, i)));
    clients.push_back(std::move(p->client));
  }
  std::vector<std::vector<std::byte>> requests;
  for (int i = 0; i < kHolders; ++i) {
    requests.push_back(SeededBytes(1000 + i, 10 + i));
    if (absl::Status w = co_await clients[i].write_all(requests[i]); !w.ok()) co_return w;
  }
  if (!co_await Eventually([&] { return pool->Stats().bytes_in_use == kHolders * kBlock; })) {
    co_return absl::InternalError("the holders did not take the cap");
  }

  // A third connection is accepted (accepting needs no pool memory) but its
  // read is refused with a clear error.
  absl::StatusOr<ConnectedPair> third = co_await ConnectPair(listener);
  if (!third.ok()) co_return third.status();
  handlers.push_back(spawn(EchoConnection(std::move(third->server), &st)));
  TcpStream third_client = std::move(third->client);
  const std::vector<std::byte> third_data = SeededBytes(5000, 99);
  if (absl::Status w = co_await third_client.write_all(third_data); !w.ok()) co_return w;
  if (!co_await Eventually([&] { return st.refusals > 0; })) {
    co_return absl::InternalError("the capped read was not refused");
  }
  if (st.first_refusal.code() != absl::StatusCode::kResourceExhausted ||
      !absl::StrContains(st.first_refusal.message(), "max_bytes_in_use")) {
    co_return absl::InternalError(
        absl::StrCat("unclear cap error: ", st.first_refusal.ToString()));
  }
  if (pool->Stats().cap_rejections == 0) co_return absl::InternalError("no cap rejection counted");

  // The first holder is served while the pool is still at its cap...
  st.release[0] = true;
  if (absl::Status e = co_await ExpectBytes(&clients[0], requests[0], "holder 0"); !e.ok()) {
    co_return e;
  }
  // ...which frees a block, so the refused connection is served next, with
  // every byte it sent while refused.
  if (absl::Status e = co_await ExpectBytes(&third_client, third_data, "refused"); !e.ok()) {
    co_return e;
  }
  st.release[1] = true;
  if (absl::Status e = co_await ExpectBytes(&clients[1], requests[1], "holder 1"); !e.ok()) {
    co_return e;
  }
  // Then everyone keeps being served, with at most two blocks among three.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kHolders; ++i) {
      if (absl::Status e = co_await ExpectEcho(&clients[i], SeededBytes(3000, 50 + round * 4 + i));
          !e.ok()) {
        co_return e;
      }
    }
    if (absl::Status e = co_await ExpectEcho(&third_client, SeededBytes(7000, 70 + round)); !e.ok()) {
      co_return e;
    }
  }
  clients.clear();
  third_client.close();
  for (auto& h : handlers) {
    if (absl::Status s = co_await h; !s.ok()) co_return s;
  }
  const BufferPoolStats stats = pool->Stats();
  if (stats.bytes_in_use != 0 || stats.blocks_in_use != 0) {
    co_return absl::InternalError(absl::StrCat("blocks still in use: ", stats.bytes_in_use));
  }
  pool.reset();  // on the core that owns it
  co_return absl::OkStatus();
}

class PoolCapTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(PoolCapTest, CapErrorIsClearAndTheServerKeepsServing) {
  Runtime rt({.n_cores = 1, .backend = GetParam()});
  absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  absl::Status s = rt.block_on(CapScenario(&*l));
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, PoolCapTest,
                         ::testing::ValuesIn(reliability::BothBackends()),
                         reliability::BackendParamName);

}  // namespace
}  // namespace readbuf
