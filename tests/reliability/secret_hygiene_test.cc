// Secret hygiene: a buffer that served one connection and is reused for a
// second must not show the first connection's bytes through any API.
//
// - Pooled over a BufferPool with zero_on_release: the second connection's
//   read gets the same block back (a pool hit), and filled(),
//   initialize_unfilled() (the API that hands out the rest of the block as
//   initialized memory), take_filled()'s PoolBytes, and even a raw
//   PoolBlock acquired from the pool show none of the first connection's
//   bytes. A control run without zero_on_release shows the raw block does
//   hold them, so the check can fail.
// - pooled_read (on io_uring: the provided-buffer ring) hands out exactly the
//   bytes received.
// - Uninit: a fresh buffer for the second connection, even when the heap
//   gives it the first one's memory, shows only what was read, and zeroes
//   what a span reader may see.
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
#include "absl/strings/str_cat.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/reliability/fault_test_util.h"

namespace readbuf {
namespace {

using reliability::ConnectedPair;
using reliability::ConnectPair;

constexpr uint32_t kBlock = 16 * 1024;
constexpr std::byte kSecret{0xA5};  // the first connection's every byte
const std::string kHello = "hello, second connection";

// True if any byte of `s` is the secret byte.
bool ShowsSecret(std::span<const std::byte> s) {
  return std::find(s.begin(), s.end(), kSecret) != s.end();
}

bool IsHello(std::span<const std::byte> s) {
  return s.size() == kHello.size() &&
         std::equal(s.begin(), s.end(), reinterpret_cast<const std::byte*>(kHello.data()));
}

std::span<const std::byte> HelloBytes() {
  return {reinterpret_cast<const std::byte*>(kHello.data()), kHello.size()};
}

// Reads the whole secret of the first connection into `buf` (filling the
// block), then lets the buffer give its memory back.
template <class Buf>
Task<absl::Status> ServeSecretConnection(TcpListener* listener, Buf* buf) {
  absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
  if (!p.ok()) co_return p.status();
  const std::vector<std::byte> secret(kBlock, kSecret);
  if (absl::Status w = co_await p->client.write_all(secret); !w.ok()) co_return w;
  size_t got = 0;
  while (got < secret.size()) {
    absl::StatusOr<size_t> n = co_await read_into(p->server, *buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
    got += *n;
    buf->clear();
  }
  co_return absl::OkStatus();
}

struct SecondRead {
  bool filled_is_hello = false;
  bool initialized_shows_secret = true;
  bool pool_bytes_is_hello = false;
  BufferPoolStats stats;
};

// The second connection sends a short message into a Pooled buffer from
// `pool`; reports what each API showed.
Task<absl::StatusOr<SecondRead>> ServeSecondConnection(TcpListener* listener, BufferPool* pool,
                                                       const Pooled::Options& options) {
  absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
  if (!p.ok()) co_return p.status();
  if (absl::Status w = co_await p->client.write_all(HelloBytes()); !w.ok()) co_return w;
  Pooled buf(options);
  SecondRead out;
  size_t n_total = 0;
  while (n_total < kHello.size()) {
    absl::StatusOr<size_t> n = co_await read_into(p->server, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
    n_total += *n;
  }
  out.filled_is_hello = IsHello(buf.filled());
  out.initialized_shows_secret = ShowsSecret(buf.initialize_unfilled());
  PoolBytes bytes = buf.take_filled();
  out.pool_bytes_is_hello = IsHello(bytes.span());
  out.stats = pool->Stats();
  co_return out;
}

struct RawReuse {
  SecondRead second;
  bool raw_block_shows_secret = true;
  uint64_t hits_for_second_read = 0;
};

Task<absl::StatusOr<RawReuse>> PooledReuse(TcpListener* listener, bool zero_on_release) {
  BufferPoolOptions pool_options;
  pool_options.zero_on_release = zero_on_release;
  std::optional<BufferPool> pool(std::in_place, pool_options);
  Pooled::Options options;
  options.sizing.min = options.sizing.initial = options.sizing.max = kBlock;
  options.pool = &*pool;
  RawReuse out;
  {
    Pooled first(options);
    if (absl::Status s = co_await ServeSecretConnection(listener, &first); !s.ok()) co_return s;
  }
  // Everything is back in the pool; the raw block it hands out next is the
  // one the first connection used.
  {
    absl::StatusOr<PoolBlock> raw = pool->Acquire(kBlock);
    if (!raw.ok()) co_return raw.status();
    out.raw_block_shows_secret = ShowsSecret(raw->span());
  }
  const uint64_t hits_before = pool->Stats().hits;
  absl::StatusOr<SecondRead> second = co_await ServeSecondConnection(listener, &*pool, options);
  if (!second.ok()) co_return second.status();
  out.second = *second;
  out.hits_for_second_read = second->stats.hits - hits_before;
  pool.reset();  // on its owner core
  co_return out;
}

class SecretHygieneTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
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

TEST_P(SecretHygieneTest, ReusedPooledBlockShowsNoPriorBytesWithZeroOnRelease) {
  absl::StatusOr<RawReuse> r = rt_->block_on(PooledReuse(&*listener_, /*zero_on_release=*/true));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->hits_for_second_read, 1u) << "the second connection did not reuse the block";
  EXPECT_TRUE(r->second.filled_is_hello);
  EXPECT_FALSE(r->second.initialized_shows_secret);
  EXPECT_TRUE(r->second.pool_bytes_is_hello);
  EXPECT_FALSE(r->raw_block_shows_secret) << "zero_on_release left the secret in the block";
}

// The control: without zero_on_release the secret is still in the reused
// block's raw memory (so the check above can fail), yet the ReadBuf APIs
// still show none of it (a pool block counts as uninitialized).
TEST_P(SecretHygieneTest, WithoutZeroOnReleaseOnlyTheRawBlockHoldsTheSecret) {
  absl::StatusOr<RawReuse> r = rt_->block_on(PooledReuse(&*listener_, /*zero_on_release=*/false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->hits_for_second_read, 1u);
  EXPECT_TRUE(r->second.filled_is_hello);
  EXPECT_FALSE(r->second.initialized_shows_secret);
  EXPECT_TRUE(r->second.pool_bytes_is_hello);
  EXPECT_TRUE(r->raw_block_shows_secret);
}

// pooled_read: on io_uring the bytes come through the core's provided-buffer
// ring, whose blocks go back to the core's pool and refill the ring.
Task<absl::Status> PooledReadTwice(TcpListener* listener) {
  {
    absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
    if (!p.ok()) co_return p.status();
    const std::vector<std::byte> secret(256 * 1024, kSecret);
    if (absl::Status w = co_await p->client.write_all(secret); !w.ok()) co_return w;
    size_t got = 0;
    while (got < secret.size()) {
      absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->server);
      if (!b.ok()) co_return b.status();
      if (!b->has_value()) co_return absl::DataLossError("early EOF");
      got += (*b)->size();
    }
  }
  absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
  if (!p.ok()) co_return p.status();
  for (int i = 0; i < 20; ++i) {
    if (absl::Status w = co_await p->client.write_all(HelloBytes()); !w.ok()) co_return w;
    size_t got = 0;
    while (got < kHello.size()) {
      absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(p->server);
      if (!b.ok()) co_return b.status();
      if (!b->has_value()) co_return absl::DataLossError("early EOF");
      std::span<const std::byte> s = (*b)->span();
      if (s.size() > kHello.size() - got || ShowsSecret(s) ||
          !std::equal(s.begin(), s.end(), HelloBytes().begin() + got)) {
        co_return absl::InternalError(
            absl::StrCat("pooled_read exposed ", s.size(), " bytes that were not sent"));
      }
      got += s.size();
    }
  }
  co_return absl::OkStatus();
}

TEST_P(SecretHygieneTest, PooledReadHandsOutOnlyTheBytesReceived) {
  absl::Status s = rt_->block_on(PooledReadTwice(&*listener_));
  EXPECT_TRUE(s.ok()) << s;
}

// Uninit: each connection gets its own buffer (as examples/echo_server
// does); the heap may hand the second the first's freed memory.
Task<absl::Status> UninitTwice(TcpListener* listener) {
  {
    Uninit first(kBlock);
    if (absl::Status s = co_await ServeSecretConnection(listener, &first); !s.ok()) co_return s;
  }
  absl::StatusOr<ConnectedPair> p = co_await ConnectPair(listener);
  if (!p.ok()) co_return p.status();
  if (absl::Status w = co_await p->client.write_all(HelloBytes()); !w.ok()) co_return w;
  Uninit second(kBlock);
  while (second.filled_size() < kHello.size()) {
    absl::StatusOr<size_t> n = co_await read_into(p->server, second);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
  }
  if (!IsHello(second.filled())) co_return absl::InternalError("filled() is not the message");
  if (ShowsSecret(second.initialize_unfilled())) {
    co_return absl::InternalError("initialize_unfilled() showed the first connection's bytes");
  }
  co_return absl::OkStatus();
}

TEST_P(SecretHygieneTest, FreshUninitShowsOnlyItsOwnBytes) {
  absl::Status s = rt_->block_on(UninitTwice(&*listener_));
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, SecretHygieneTest,
                         ::testing::ValuesIn(reliability::BothBackends()),
                         reliability::BackendParamName);

}  // namespace
}  // namespace readbuf
