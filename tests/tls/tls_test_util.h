// -----------------------------------------------------------------------------
// File: tests/tls/tls_test_util.h
// -----------------------------------------------------------------------------
//
// Shared helpers for the TLS tests: the backends to run on (READBUF_BACKEND
// narrows them, as .ci/valgrind sets it to epoll), the run-time PKI, TLS
// contexts made from it, a handshaken client/server pair on loopback, and
// the leak gauges (open fds, this core's pool bytes).

#ifndef READBUF_TESTS_TLS_TLS_TEST_UTIL_H_
#define READBUF_TESTS_TLS_TLS_TEST_UTIL_H_

#include <dirent.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/tls_context.h"
#include "io/tls_stream.h"
#include "tests/testing/tls_certs.h"

namespace readbuf::testing_tls {

// epoll and io_uring, or only the one READBUF_BACKEND names.
inline std::vector<BackendKind> Backends() {
  const char* env = std::getenv("READBUF_BACKEND");
  if (env != nullptr && std::string(env) == "epoll") return {BackendKind::kEpoll};
  if (env != nullptr && std::string(env) == "uring") return {BackendKind::kUring};
  return {BackendKind::kEpoll, BackendKind::kUring};
}

inline std::string BackendName(const ::testing::TestParamInfo<BackendKind>& info) {
  return info.param == BackendKind::kUring ? "uring" : "epoll";
}

// The PKI, made once per test binary in TEST_TMPDIR.
inline const TestPki& Pki() {
  static const TestPki* pki = [] {
    absl::StatusOr<TestPki> made = MakeTestPki(TestTmpDir());
    if (!made.ok()) {
      ADD_FAILURE() << made.status();
      return new TestPki();
    }
    return new TestPki(*std::move(made));
  }();
  return *pki;
}

inline TlsContext ServerContext(const CertAndKey& cert, std::vector<std::string> alpn = {}) {
  TlsServerOptions o;
  o.certificate = cert.AsCertificate();
  o.alpn = std::move(alpn);
  absl::StatusOr<TlsContext> ctx = TlsContext::Server(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : TlsContext();
}

inline TlsContext ClientContext(std::vector<std::string> alpn = {}) {
  TlsClientOptions o;
  o.ca_file = Pki().ca.cert_file;
  o.alpn = std::move(alpn);
  absl::StatusOr<TlsContext> ctx = TlsContext::Client(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : TlsContext();
}

inline SocketAddress Loopback() { return *SocketAddress::Parse("127.0.0.1:0"); }

struct TcpPair {
  TcpStream client;
  TcpStream server;
};

// Connects to `listener` and accepts. REQUIRES: on a core.
inline Task<absl::StatusOr<TcpPair>> ConnectTcp(TcpListener* listener) {
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(*listener->local_addr());
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> server = co_await listener->accept();
  if (!server.ok()) co_return server.status();
  co_return TcpPair{*std::move(client), *std::move(server)};
}

struct TlsPair {
  TlsStream<TcpStream> client;
  TlsStream<TcpStream> server;
  absl::Status client_handshake;
  absl::Status server_handshake;
};

// A TCP pair wrapped in TLS, both handshakes run at once (the server's in a
// child task). The pair is returned also when a handshake failed: look at
// client_handshake / server_handshake. REQUIRES: on a core; *pair empty.
inline Task<absl::Status> HandshakePair(TcpListener* listener, TlsContext server_ctx,
                                        TlsContext client_ctx, std::string server_name,
                                        TlsPair* pair) {
  absl::StatusOr<TcpPair> tcp = co_await ConnectTcp(listener);
  if (!tcp.ok()) co_return tcp.status();
  absl::StatusOr<TlsStream<TcpStream>> server =
      TlsStream<TcpStream>::Server(std::move(tcp->server), server_ctx);
  if (!server.ok()) co_return server.status();
  absl::StatusOr<TlsStream<TcpStream>> client =
      TlsStream<TcpStream>::Client(std::move(tcp->client), client_ctx, server_name);
  if (!client.ok()) co_return client.status();
  pair->server = *std::move(server);
  pair->client = *std::move(client);
  JoinHandle<absl::Status> server_side = spawn(pair->server.handshake());
  pair->client_handshake = co_await pair->client.handshake();
  // A client that gave up does not answer: end the server's wait.
  if (!pair->client_handshake.ok()) pair->client.close();
  pair->server_handshake = co_await server_side;
  co_return absl::OkStatus();
}

// Open fds of this process.
inline int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;
}

// Pool bytes handed out on the calling core.
inline size_t PoolBytesInUse() { return BufferPool::ForThisThread().Stats().bytes_in_use; }

}  // namespace readbuf::testing_tls

#endif  // READBUF_TESTS_TLS_TLS_TEST_UTIL_H_
