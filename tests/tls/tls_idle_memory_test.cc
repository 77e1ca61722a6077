// Deferred memory through TLS: an idle TlsStream read with Pooled holds no
// pool block and no TLS record buffers. The TLS library's own allocations
// are counted (CRYPTO_set_mem_functions, installed before it allocates
// anything) while 20 connections sit idle right after the handshake, and
// again after each has echoed 48 KiB (several full 16 KiB records each way)
// and gone idle again: the second count may exceed the first by a little
// session state (the client's session tickets), never by record buffers
// (about 17 KiB per direction and side when they are kept). Both backends.
// OpenSSL only: BoringSSL has no CRYPTO_set_mem_functions (and releases its
// buffers by design).

#include <malloc.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_stream.h"
#include "tests/tls/tls_test_util.h"

namespace readbuf {
namespace {

#if !defined(OPENSSL_IS_BORINGSSL)
std::atomic<int64_t> g_tls_live_bytes{0};

void* CountingMalloc(size_t n, const char*, int) {
  void* p = std::malloc(n);
  if (p != nullptr) g_tls_live_bytes += static_cast<int64_t>(malloc_usable_size(p));
  return p;
}
void* CountingRealloc(void* old, size_t n, const char*, int) {
  const int64_t before = old != nullptr ? static_cast<int64_t>(malloc_usable_size(old)) : 0;
  void* p = std::realloc(old, n);
  if (p != nullptr || n == 0) g_tls_live_bytes -= before;
  if (p != nullptr) g_tls_live_bytes += static_cast<int64_t>(malloc_usable_size(p));
  return p;
}
void CountingFree(void* p, const char*, int) {
  if (p != nullptr) g_tls_live_bytes -= static_cast<int64_t>(malloc_usable_size(p));
  std::free(p);
}
// Before main, so before the TLS library's first allocation.
const bool g_counting = CRYPTO_set_mem_functions(&CountingMalloc, &CountingRealloc,
                                                 &CountingFree) == 1;
#else
const bool g_counting = false;
std::atomic<int64_t> g_tls_live_bytes{0};
#endif

using testing_tls::ClientContext;
using testing_tls::HandshakePair;
using testing_tls::Loopback;
using testing_tls::Pki;
using testing_tls::PoolBytesInUse;
using testing_tls::ServerContext;
using testing_tls::TlsPair;

constexpr int kConnections = 20;
constexpr size_t kEcho = 48 * 1024;

Task<void> Echo(TlsStream<TcpStream>* tls) {
  Pooled buf(64 * 1024);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(*tls, buf);
    if (!n.ok() || *n == 0) co_return;
    absl::Status w = co_await write_filled(*tls, buf);
    if (!w.ok()) co_return;
    buf.clear();
  }
}

Task<absl::Status> RoundTrip(TlsStream<TcpStream>* tls) {
  const std::string data(kEcho, 'q');
  absl::Status w = co_await tls->write_all(data);
  if (!w.ok()) co_return w;
  Pooled buf(64 * 1024);
  size_t got = 0;
  while (got < data.size()) {
    absl::StatusOr<size_t> n = co_await read_into(*tls, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("EOF");
    got += *n;
    buf.clear();
  }
  co_return absl::OkStatus();
}

class TlsIdleMemoryTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(TlsIdleMemoryTest, IdlePooledSessionsHoldNoRecordBuffers) {
  if (!g_counting) GTEST_SKIP() << "the TLS library's allocations cannot be counted here";
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  absl::Status s = rt.block_on([]() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    if (!listener.ok()) co_return listener.status();
    std::vector<std::unique_ptr<TlsPair>> pairs;
    std::vector<JoinHandle<void>> servers;
    for (int i = 0; i < kConnections; ++i) {
      auto pair = std::make_unique<TlsPair>();
      absl::Status setup = co_await HandshakePair(&*listener, ServerContext(Pki().good),
                                                  ClientContext(), "localhost", pair.get());
      if (!setup.ok()) co_return setup;
      if (!pair->client_handshake.ok()) co_return pair->client_handshake;
      servers.push_back(spawn(Echo(&pair->server)));
      pairs.push_back(std::move(pair));
    }
    co_await sleep_for(absl::Milliseconds(50));  // every server waits in read_into
    const int64_t idle_before = g_tls_live_bytes.load();
    EXPECT_EQ(PoolBytesInUse(), 0u);
    for (auto& pair : pairs) {
      absl::Status r = co_await RoundTrip(&pair->client);
      if (!r.ok()) co_return r;
    }
    co_await sleep_for(absl::Milliseconds(50));
    const int64_t idle_after = g_tls_live_bytes.load();
    EXPECT_EQ(PoolBytesInUse(), 0u);  // no Pooled block held while idle
    const double growth = static_cast<double>(idle_after - idle_before) / kConnections;
    std::printf("[ memory   ] TLS library bytes per idle pair: +%.0f after echoing %zu bytes\n",
                growth, kEcho);
    // Kept record buffers would add about 4 x 17 KiB per pair.
    EXPECT_LT(growth, 4096.0);
    for (auto& pair : pairs) pair->client.close();
    for (auto& h : servers) {
      const absl::Status done = co_await h;
      (void)done;
    }
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsIdleMemoryTest, ::testing::ValuesIn(testing_tls::Backends()),
                         testing_tls::BackendName);

}  // namespace
}  // namespace readbuf
