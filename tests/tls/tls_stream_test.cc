// Tests for io/tls_stream.h and io/tls_context.h on both backends: handshake
// and echo with every ReadBuf policy (plaintext straight into the policy's
// memory; Uninit never zeroed; a vectored buffer filled across segments),
// SNI and ALPN, bad certificates (self-signed, expired, wrong hostname), a
// truncated record, garbage records, a peer that closes without
// close_notify, close_notify as EOF, graceful_close, and cancellation
// (timeout() around handshake, read and write). Every test checks that the
// fds and pool bytes are back where they started.

#include "io/tls_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <type_traits>
#include <typeinfo>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/buffered_reader.h"
#include "io/buffered_writer.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"
#include "tests/tls/tls_test_util.h"

namespace readbuf {
namespace {

using testing_tls::Backends;
using testing_tls::BackendName;
using testing_tls::ClientContext;
using testing_tls::CountOpenFds;
using testing_tls::HandshakePair;
using testing_tls::Loopback;
using testing_tls::Pki;
using testing_tls::PoolBytesInUse;
using testing_tls::ServerContext;
using testing_tls::TlsPair;

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string RandomText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Reads from `tls` until `want` bytes came (appended to *got) or EOF/error.
Task<absl::Status> ReadExactly(TlsStream<TcpStream>* tls, size_t want, std::string* got) {
  Uninit buf(64 * 1024);
  while (got->size() < want) {
    absl::StatusOr<size_t> n = co_await read_into(*tls, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("EOF before all bytes came");
    got->append(reinterpret_cast<const char*>(buf.filled().data()), buf.filled_size());
    buf.clear();
  }
  co_return absl::OkStatus();
}

// What the echo server saw.
struct EchoStats {
  size_t bytes = 0;
  size_t max_read = 0;
  size_t max_filled = 0;
  absl::Status end;
};

// Echoes until close_notify, then closes gracefully.
template <class Policy>
Task<void> ServeEcho(TlsStream<TcpStream>* tls, Policy* buf, EchoStats* stats) {
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(*tls, *buf);
    if (!n.ok()) {
      stats->end = n.status();
      co_return;
    }
    if (*n == 0) {
      stats->end = co_await graceful_close(*tls, absl::Seconds(5));
      co_return;
    }
    stats->bytes += *n;
    stats->max_read = std::max(stats->max_read, *n);
    stats->max_filled = std::max(stats->max_filled, buf->filled_size());
    if (absl::Status s = co_await write_filled(*tls, *buf); !s.ok()) {
      stats->end = s;
      co_return;
    }
    buf->clear();
  }
}

class TlsStreamTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  RuntimeOptions Options() { return RuntimeOptions{.n_cores = 1, .backend = GetParam()}; }
};

// (Outside the coroutines: GCC 12 rejects braced lists of string literals
// in a coroutine body, "array used as initializer".)
TlsContext EchoServerContext() { return ServerContext(Pki().good, {"h2", "http/1.1"}); }
TlsContext EchoClientContext() { return ClientContext({"http/1.1", "h2"}); }

// One echo session over TLS with `Policy` on the server.
template <class Policy>
void EchoWithPolicy(BackendKind backend, Policy (*make_buf)()) {
  SCOPED_TRACE(typeid(Policy).name());
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = backend});
    absl::Status s = rt.block_on([](Policy (*make)()) -> Task<absl::Status> {
      absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
      if (!listener.ok()) co_return listener.status();
      const size_t pool_before = PoolBytesInUse();
      Policy buf = make();
      EchoStats stats;
      {
        TlsPair pair;
        absl::Status setup = co_await HandshakePair(&*listener, EchoServerContext(),
                                                    EchoClientContext(), "localhost", &pair);
        EXPECT_TRUE(setup.ok()) << setup;
        EXPECT_TRUE(pair.client_handshake.ok()) << pair.client_handshake;
        EXPECT_TRUE(pair.server_handshake.ok()) << pair.server_handshake;
        if (!setup.ok() || !pair.client_handshake.ok() || !pair.server_handshake.ok()) {
          co_return absl::InternalError("handshake");
        }
        // The server's preference wins; SNI reached the server.
        EXPECT_EQ(pair.server.alpn_protocol(), "h2");
        EXPECT_EQ(pair.client.alpn_protocol(), "h2");
        EXPECT_EQ(pair.server.server_name(), "localhost");
        EXPECT_FALSE(pair.server.protocol_version().empty());
        JoinHandle<void> server = spawn(ServeEcho(&pair.server, &buf, &stats));
        // Bursts of varied sizes, each read back before the next.
        const std::string data = RandomText(300 * 1024, 7);
        size_t offset = 0;
        std::mt19937 rng(11);
        std::string echoed;
        while (offset < data.size()) {
          const size_t n = std::min<size_t>(data.size() - offset, 1 + rng() % (48 * 1024));
          if (absl::Status w = co_await pair.client.write_all(Bytes(data.substr(offset, n)));
              !w.ok()) {
            co_return w;
          }
          if (absl::Status r = co_await ReadExactly(&pair.client, offset + n, &echoed); !r.ok()) {
            co_return r;
          }
          offset += n;
        }
        EXPECT_TRUE(echoed == data) << "echo differs";
        // close_notify both ways: the client's shutdown is the server's EOF.
        {
          const absl::Status st_ = co_await pair.client.shutdown();
          EXPECT_TRUE(st_.ok()) << st_;
        }
        Uninit rest(1024);
        absl::StatusOr<size_t> eof = co_await read_into(pair.client, rest);
        EXPECT_TRUE(eof.ok() && *eof == 0) << eof.status();
        const absl::Status server_done = co_await server;
        EXPECT_TRUE(server_done.ok()) << server_done;
        EXPECT_TRUE(stats.end.ok()) << stats.end;
        EXPECT_EQ(stats.bytes, data.size());
        if constexpr (std::is_same_v<Policy, Uninit>) {
          // SSL_read only wrote: the watermark is what reads filled.
          EXPECT_EQ(buf.initialized_size(), stats.max_filled);
        }
        if constexpr (std::is_same_v<Policy, Vectored<4>>) {
          // One read_into went on into the next segments.
          EXPECT_GT(stats.max_read, buf.capacity() / 4);
        }
      }
      if constexpr (std::is_same_v<Policy, Pooled>) {
        EXPECT_FALSE(buf.holds_memory());
      }
      EXPECT_EQ(PoolBytesInUse(), pool_before);
      co_return absl::OkStatus();
    }(make_buf));
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsStreamTest, EchoesWithEveryPolicy) {
  EchoWithPolicy<Zeroed>(GetParam(), +[] { return Zeroed(16 * 1024); });
  EchoWithPolicy<Uninit>(GetParam(), +[] { return Uninit(64 * 1024); });
  EchoWithPolicy<Vectored<4>>(GetParam(), +[] { return Vectored<4>(32 * 1024); });
  EchoWithPolicy<Dyn>(GetParam(), +[] { return Dyn(16 * 1024); });
  EchoWithPolicy<Pooled>(GetParam(), +[] { return Pooled(128 * 1024); });
}

// A line protocol over TLS with BufferedReader (its read_into path: the
// plaintext lands in the policy's memory) and BufferedWriter: lines split
// across records, records holding several lines, a line larger than one
// record; close_notify is a clean EOF at a line boundary.
template <class Policy>
Task<void> CountLines(TlsStream<TcpStream>* tls, Policy buf, std::vector<std::string>* lines,
                      absl::Status* end) {
  BufferedReader<TlsStream<TcpStream>*, Policy> in(tls, std::move(buf));
  BufferedWriter<TlsStream<TcpStream>> out(*tls);
  for (;;) {
    absl::StatusOr<BufferedMessage> line = co_await in.read_line(64 * 1024);
    if (!line.ok()) {
      *end = line.status();
      co_return;
    }
    if (!line->has_value()) break;  // close_notify between lines
    lines->emplace_back(reinterpret_cast<const char*>((*line)->data()), (*line)->size());
    if (absl::Status w = co_await out.write(absl::StrCat("ok ", lines->size(), "\n")); !w.ok()) {
      *end = w;
      co_return;
    }
  }
  *end = co_await out.flush();
  if (end->ok()) *end = co_await tls->shutdown();
}

template <class Policy>
void LinesOverTls(BackendKind backend, Policy (*make_buf)()) {
  SCOPED_TRACE(typeid(Policy).name());
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = backend});
    absl::Status s = rt.block_on([](Policy (*make)()) -> Task<absl::Status> {
      absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
      if (!listener.ok()) co_return listener.status();
      const size_t pool_before = PoolBytesInUse();
      {
        TlsPair pair;
        absl::Status setup = co_await HandshakePair(&*listener, EchoServerContext(),
                                                    EchoClientContext(), "localhost", &pair);
        if (!setup.ok() || !pair.client_handshake.ok() || !pair.server_handshake.ok()) {
          co_return absl::InternalError("handshake");
        }
        std::vector<std::string> lines;
        absl::Status end;
        JoinHandle<void> server = spawn(CountLines(&pair.server, make(), &lines, &end));
        const std::string big(40 * 1024, 'x');  // more than two 16 KiB records
        const std::string sent = "alpha\nbe";
        for (const std::string& piece :
             {sent, std::string("ta\ngamma\r\ndelta\n"), big, std::string("\nlast\n")}) {
          if (absl::Status w = co_await pair.client.write_all(Bytes(piece)); !w.ok()) co_return w;
          co_await sleep_for(absl::Milliseconds(2));  // separate records
        }
        if (absl::Status sd = co_await pair.client.shutdown(); !sd.ok()) co_return sd;
        std::string replies;
        Uninit rest(4096);
        for (;;) {
          absl::StatusOr<size_t> n = co_await read_into(pair.client, rest);
          if (!n.ok()) co_return n.status();
          if (*n == 0) break;
          replies.append(reinterpret_cast<const char*>(rest.filled().data()), *n);
          rest.clear();
        }
        const absl::Status joined = co_await server;
        EXPECT_TRUE(joined.ok()) << joined;
        EXPECT_TRUE(end.ok()) << end;
        const std::vector<std::string> want = {"alpha", "beta", "gamma", "delta", big, "last"};
        EXPECT_TRUE(lines == want) << lines.size() << " lines";
        EXPECT_EQ(replies, "ok 1\nok 2\nok 3\nok 4\nok 5\nok 6\n");
      }
      EXPECT_EQ(PoolBytesInUse(), pool_before);
      co_return absl::OkStatus();
    }(make_buf));
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsStreamTest, BufferedReaderAndWriterFrameLinesOverTls) {
  LinesOverTls<Pooled>(GetParam(), +[] { return Pooled(); });
  LinesOverTls<Uninit>(GetParam(), +[] { return Uninit(64 * 1024); });
  LinesOverTls<Vectored<4>>(GetParam(), +[] { return Vectored<4>(64 * 1024); });
}

TEST_P(TlsStreamTest, HasBufferedSeesPlaintextTheSocketNoLongerSignals) {
  Runtime rt(Options());
  absl::Status s = rt.block_on([]() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    if (!listener.ok()) co_return listener.status();
    TlsPair pair;
    absl::Status setup = co_await HandshakePair(&*listener, EchoServerContext(),
                                                EchoClientContext(), "localhost", &pair);
    if (!setup.ok() || !pair.client_handshake.ok() || !pair.server_handshake.ok()) {
      co_return absl::InternalError("handshake");
    }
    EXPECT_FALSE(pair.server.has_buffered());
    const std::string record(1000, 'r');
    if (absl::Status w = co_await pair.client.write_all(Bytes(record)); !w.ok()) co_return w;
    // Read part of the record: the rest is decrypted and waits in the
    // session, while the socket has nothing left to signal.
    Uninit small(100);
    absl::StatusOr<size_t> n = co_await read_into(pair.server, small);
    if (!n.ok()) co_return n.status();
    EXPECT_EQ(*n, 100u);
    EXPECT_TRUE(pair.server.has_buffered());
    Uninit rest(4096);
    size_t got = 0;
    while (got < 900) {
      absl::StatusOr<size_t> m = co_await read_into(pair.server, rest);
      if (!m.ok()) co_return m.status();
      got += *m;
      rest.clear();
    }
    EXPECT_FALSE(pair.server.has_buffered());
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

// Runs a handshake between `server_ctx` and a client of `client_ctx` asking
// for `name`; returns both results. Checks fds and pool bytes come back.
std::pair<absl::Status, absl::Status> Handshake(BackendKind backend, TlsContext server_ctx,
                                                TlsContext client_ctx, std::string name) {
  const int fds_before = CountOpenFds();
  std::pair<absl::Status, absl::Status> out;
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = backend});
    absl::Status s = rt.block_on([&]() -> Task<absl::Status> {
      absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
      if (!listener.ok()) co_return listener.status();
      const size_t pool_before = PoolBytesInUse();
      {
        TlsPair pair;
        absl::Status setup = co_await HandshakePair(&*listener, server_ctx, client_ctx, name, &pair);
        if (!setup.ok()) co_return setup;
        out = {pair.client_handshake, pair.server_handshake};
      }
      EXPECT_EQ(PoolBytesInUse(), pool_before);
      co_return absl::OkStatus();
    }());
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  return out;
}

TEST_P(TlsStreamTest, SelfSignedCertificateIsRejected) {
  auto [client, server] =
      Handshake(GetParam(), ServerContext(Pki().self_signed), ClientContext(), "localhost");
  EXPECT_EQ(client.code(), absl::StatusCode::kUnauthenticated) << client;
  EXPECT_TRUE(absl::StrContains(client.message(), "certificate verification failed")) << client;
  EXPECT_TRUE(absl::StrContains(client.message(), "self")) << client;  // "self-signed certificate"
  EXPECT_FALSE(server.ok());
  std::printf("[ message  ] client: %s\n[ message  ] server: %s\n", client.ToString().c_str(),
              server.ToString().c_str());
}

TEST_P(TlsStreamTest, ExpiredCertificateIsRejected) {
  auto [client, server] =
      Handshake(GetParam(), ServerContext(Pki().expired), ClientContext(), "localhost");
  EXPECT_EQ(client.code(), absl::StatusCode::kUnauthenticated) << client;
  EXPECT_TRUE(absl::StrContains(client.message(), "expired")) << client;
  EXPECT_FALSE(server.ok());
}

TEST_P(TlsStreamTest, WrongHostnameIsRejected) {
  auto [client, server] =
      Handshake(GetParam(), ServerContext(Pki().good), ClientContext(), "wrong.example");
  EXPECT_EQ(client.code(), absl::StatusCode::kUnauthenticated) << client;
  EXPECT_TRUE(absl::StrContains(client.message(), "hostname mismatch")) << client;
  EXPECT_TRUE(absl::StrContains(client.message(), "wrong.example")) << client;
  EXPECT_FALSE(server.ok());
  std::printf("[ message  ] client: %s\n", client.ToString().c_str());
}

TEST_P(TlsStreamTest, IpLiteralIsCheckedAgainstIpSan) {
  auto [client, server] =
      Handshake(GetParam(), ServerContext(Pki().good), ClientContext(), "127.0.0.1");
  EXPECT_TRUE(client.ok()) << client;
  EXPECT_TRUE(server.ok()) << server;
  auto [client2, server2] =
      Handshake(GetParam(), ServerContext(Pki().other), ClientContext(), "127.0.0.1");
  EXPECT_EQ(client2.code(), absl::StatusCode::kUnauthenticated) << client2;
}

TEST_P(TlsStreamTest, UnverifiedClientAcceptsAnyCertificate) {
  TlsClientOptions o;
  o.verify_peer = false;
  absl::StatusOr<TlsContext> ctx = TlsContext::Client(o);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  auto [client, server] = Handshake(GetParam(), ServerContext(Pki().self_signed), *ctx, "");
  EXPECT_TRUE(client.ok()) << client;
  EXPECT_TRUE(server.ok()) << server;
}

TEST_P(TlsStreamTest, SniPicksTheCertificate) {
  TlsServerOptions o;
  o.certificate = Pki().good.AsCertificate();
  TlsCertificate other = Pki().other.AsCertificate();
  other.server_names = {"*.example"};
  o.sni = {other};
  absl::StatusOr<TlsContext> ctx = TlsContext::Server(o);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  // Verifies only if the server chose other.example's certificate.
  auto [client, server] = Handshake(GetParam(), *ctx, ClientContext(), "other.example");
  EXPECT_TRUE(client.ok()) << client;
  EXPECT_TRUE(server.ok()) << server;
  auto [client2, server2] = Handshake(GetParam(), *ctx, ClientContext(), "localhost");
  EXPECT_TRUE(client2.ok()) << client2;
}

TEST_P(TlsStreamTest, RequiredAlpnWithoutOverlapFails) {
  TlsServerOptions o;
  o.certificate = Pki().good.AsCertificate();
  o.alpn = {"h2"};
  o.alpn_required = true;
  absl::StatusOr<TlsContext> ctx = TlsContext::Server(o);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  auto [client, server] = Handshake(GetParam(), *ctx, ClientContext({"x-other"}), "localhost");
  EXPECT_EQ(client.code(), absl::StatusCode::kUnavailable) << client;
  EXPECT_FALSE(server.ok());
  std::printf("[ message  ] client: %s\n[ message  ] server: %s\n", client.ToString().c_str(),
              server.ToString().c_str());
  // Without alpn_required the handshake goes on without ALPN.
  auto [client2, server2] =
      Handshake(GetParam(), ServerContext(Pki().good, {"h2"}), ClientContext({"x-other"}), "localhost");
  EXPECT_TRUE(client2.ok()) << client2;
}

TEST(TlsContextTest, ConfigErrorsNameWhatFailed) {
  TlsServerOptions o;
  o.certificate.chain_file = Pki().good.cert_file;
  o.certificate.key_file = Pki().other.key_file;
  absl::StatusOr<TlsContext> mismatch = TlsContext::Server(o);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(mismatch.status().message(), "mismatch") ||
              absl::StrContains(mismatch.status().message(), "does not match"))
      << mismatch.status();
  o.certificate.chain_file = "/nonexistent/cert.pem";
  absl::StatusOr<TlsContext> missing = TlsContext::Server(o);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "/nonexistent/cert.pem"))
      << missing.status();
  TlsServerOptions pem;
  pem.certificate.chain_pem = Pki().good.cert_pem;
  pem.certificate.key_pem = Pki().good.key_pem;
  EXPECT_TRUE(TlsContext::Server(pem).ok());
  TlsClientOptions bad_alpn;
  bad_alpn.alpn = {""};
  EXPECT_EQ(TlsContext::Client(bad_alpn).status().code(), absl::StatusCode::kInvalidArgument);
  TlsClientOptions verifying;
  verifying.ca_pem = Pki().ca.cert_pem;
  absl::StatusOr<TlsContext> client = TlsContext::Client(verifying);
  ASSERT_TRUE(client.ok());
  // A verifying client must name the server.
  EXPECT_EQ(TlsStream<TcpStream>::Client(TcpStream(), *client, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Sides must match.
  EXPECT_EQ(TlsStream<TcpStream>::Server(TcpStream(), *client).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Runs `body(pair)` on a handshaken pair (good certificate, "localhost"),
// checking fds and pool bytes afterwards.
template <class Body>
void WithPair(BackendKind backend, Body body) {
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = backend});
    absl::Status s = rt.block_on([&]() -> Task<absl::Status> {
      absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
      if (!listener.ok()) co_return listener.status();
      const size_t pool_before = PoolBytesInUse();
      {
        TlsPair pair;
        absl::Status setup = co_await HandshakePair(&*listener, ServerContext(Pki().good),
                                                    ClientContext(), "localhost", &pair);
        if (!setup.ok()) co_return setup;
        if (!pair.client_handshake.ok()) co_return pair.client_handshake;
        if (!pair.server_handshake.ok()) co_return pair.server_handshake;
        co_await body(pair);
      }
      EXPECT_EQ(PoolBytesInUse(), pool_before);
      co_return absl::OkStatus();
    }());
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsStreamTest, PeerClosingWithoutCloseNotifyIsDataLoss) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    {
      const absl::Status st_ = co_await pair.client.write_all(std::string_view("abc"));
      EXPECT_TRUE(st_.ok()) << st_;
    }
    // TCP FIN, no close_notify. (close() would send RST here: the client
    // never read the server's session tickets.)
    EXPECT_TRUE(pair.client.next_layer().shutdown(SHUT_WR).ok());
    Pooled buf;
    absl::StatusOr<size_t> n = co_await read_into(pair.server, buf);
    EXPECT_TRUE(n.ok() && *n == 3u) << n.status();
    buf.clear();
    absl::StatusOr<size_t> end = co_await read_into(pair.server, buf);
    EXPECT_EQ(end.status().code(), absl::StatusCode::kDataLoss) << end.status();
    EXPECT_TRUE(absl::StrContains(end.status().message(), "without close_notify")) << end.status();
    EXPECT_FALSE(buf.holds_memory());
    // Sticky: the same error again, and no close_notify after a failure.
    absl::StatusOr<size_t> again = co_await read_into(pair.server, buf);
    EXPECT_EQ(again.status(), end.status());
    {
      const absl::Status st_ = co_await pair.server.shutdown();
      EXPECT_FALSE(st_.ok()) << st_;
    }
    std::printf("[ message  ] %s\n", end.status().ToString().c_str());
  });
}

TEST_P(TlsStreamTest, TruncatedRecordIsDataLoss) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    // An application-data record header announcing 64 bytes, then 10, then FIN.
    std::string raw = {0x17, 0x03, 0x03, 0x00, 0x40};
    raw += std::string(10, 'x');
    {
      const absl::Status st_ = co_await pair.client.next_layer().write_all(raw);
      EXPECT_TRUE(st_.ok()) << st_;
    }
    EXPECT_TRUE(pair.client.next_layer().shutdown(SHUT_WR).ok());
    Uninit buf(4096);
    absl::StatusOr<size_t> n = co_await read_into(pair.server, buf);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
    EXPECT_EQ(buf.filled_size(), 0u);
    std::printf("[ message  ] %s\n", n.status().ToString().c_str());
  });
}

TEST_P(TlsStreamTest, GarbageRecordIsDataLoss) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    std::string raw = {0x17, 0x03, 0x03, 0x00, 0x20};
    raw += RandomText(32, 3);
    {
      const absl::Status st_ = co_await pair.client.next_layer().write_all(raw);
      EXPECT_TRUE(st_.ok()) << st_;
    }
    Zeroed buf(4096);
    absl::StatusOr<size_t> n = co_await read_into(pair.server, buf);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
    EXPECT_EQ(buf.filled_size(), 0u);
    std::printf("[ message  ] %s\n", n.status().ToString().c_str());
  });
}

TEST_P(TlsStreamTest, CloseNotifyIsEofAndGracefulCloseCompletes) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    JoinHandle<absl::Status> closing = spawn(graceful_close(pair.server, absl::Seconds(5)));
    Uninit buf(1024);
    absl::StatusOr<size_t> n = co_await read_into(pair.client, buf);
    EXPECT_TRUE(n.ok() && *n == 0) << n.status();  // the server's close_notify
    {
      const absl::Status st_ = co_await pair.client.shutdown();
      EXPECT_TRUE(st_.ok()) << st_;
    }
    const absl::Status late = co_await pair.client.write_all(std::string_view("late"));
    EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
    absl::Status closed = co_await closing;
    EXPECT_TRUE(closed.ok()) << closed;
    EXPECT_FALSE(pair.server.is_open());
  });
}

TEST_P(TlsStreamTest, TimeoutAroundReadReadsNothingAndKeepsTheSession) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    Pooled buf;
    absl::StatusOr<size_t> n = co_await timeout(read_into(pair.server, buf), absl::Milliseconds(30));
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_FALSE(buf.holds_memory());
    EXPECT_EQ(PoolBytesInUse(), 0u);
    // Cancelled at every point of a long transfer (records arrive in pieces
    // and stay buffered in the session across the cancelled reads): every
    // byte still arrives, in order.
    const std::string data = RandomText(512 * 1024, 5);
    JoinHandle<absl::Status> writer = spawn(pair.client.write_all(Bytes(data)));
    std::string got;
    int timeouts = 0;
    while (got.size() < data.size()) {
      absl::StatusOr<size_t> r = co_await timeout(read_into(pair.server, buf), absl::ZeroDuration());
      if (absl::IsDeadlineExceeded(r.status())) {
        ++timeouts;
        EXPECT_FALSE(buf.holds_memory());
        co_await yield_now();
        continue;
      }
      if (!r.ok() || *r == 0) {
        ADD_FAILURE() << r.status();
        break;
      }
      got.append(reinterpret_cast<const char*>(buf.filled().data()), buf.filled_size());
      buf.clear();
    }
    EXPECT_TRUE(got == data);
    EXPECT_GT(timeouts, 0);
    {
      const absl::Status st_ = co_await writer;
      EXPECT_TRUE(st_.ok()) << st_;
    }
  });
}

TEST_P(TlsStreamTest, TimeoutAroundWriteFailsWritesClearly) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    // The client never reads: the server's writes fill the socket buffers.
    const std::string chunk = RandomText(256 * 1024, 9);
    absl::Status last;
    for (int i = 0; i < 200; ++i) {
      last = co_await timeout(pair.server.write_all(Bytes(chunk)), absl::Milliseconds(50));
      if (!last.ok()) break;
    }
    EXPECT_EQ(last.code(), absl::StatusCode::kDeadlineExceeded) << last;
    // A record was half sent: the stream says so instead of corrupting it.
    absl::Status next = co_await pair.server.write_all(std::string_view("x"));
    EXPECT_EQ(next.code(), absl::StatusCode::kFailedPrecondition) << next;
    EXPECT_TRUE(absl::StrContains(next.message(), "cancelled")) << next;
    {
      const absl::Status st_ = co_await pair.server.shutdown();
      EXPECT_FALSE(st_.ok()) << st_;
    }
    // Reads still work.
    {
      const absl::Status st_ = co_await pair.client.write_all(std::string_view("ping"));
      EXPECT_TRUE(st_.ok()) << st_;
    }
    Uninit buf(64);
    absl::StatusOr<size_t> n = co_await read_into(pair.server, buf);
    EXPECT_TRUE(n.ok() && *n == 4) << n.status();
  });
}

TEST_P(TlsStreamTest, TimeoutAroundHandshake) {
  const int fds_before = CountOpenFds();
  {
    Runtime rt(Options());
    absl::Status s = rt.block_on([]() -> Task<absl::Status> {
      absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
      if (!listener.ok()) co_return listener.status();
      // A client that never speaks: the server's handshake times out.
      {
        absl::StatusOr<testing_tls::TcpPair> tcp = co_await testing_tls::ConnectTcp(&*listener);
        if (!tcp.ok()) co_return tcp.status();
        absl::StatusOr<TlsStream<TcpStream>> server =
            TlsStream<TcpStream>::Server(std::move(tcp->server), ServerContext(Pki().good));
        if (!server.ok()) co_return server.status();
        absl::Status h = co_await timeout(server->handshake(), absl::Milliseconds(50));
        EXPECT_EQ(h.code(), absl::StatusCode::kDeadlineExceeded) << h;
        EXPECT_FALSE(server->handshake_done());
      }
      // A cancelled client handshake continues when called again.
      {
        absl::StatusOr<testing_tls::TcpPair> tcp = co_await testing_tls::ConnectTcp(&*listener);
        if (!tcp.ok()) co_return tcp.status();
        absl::StatusOr<TlsStream<TcpStream>> server =
            TlsStream<TcpStream>::Server(std::move(tcp->server), ServerContext(Pki().good));
        absl::StatusOr<TlsStream<TcpStream>> client =
            TlsStream<TcpStream>::Client(std::move(tcp->client), ClientContext(), "localhost");
        if (!server.ok() || !client.ok()) co_return absl::InternalError("setup");
        absl::Status first = co_await timeout(client->handshake(), absl::ZeroDuration());
        EXPECT_EQ(first.code(), absl::StatusCode::kDeadlineExceeded) << first;
        JoinHandle<absl::Status> server_side = spawn(server->handshake());
        absl::Status resumed = co_await client->handshake();
        EXPECT_TRUE(resumed.ok()) << resumed;
        {
          const absl::Status st_ = co_await server_side;
          EXPECT_TRUE(st_.ok()) << st_;
        }
        {
          const absl::Status st_ = co_await client->write_all(std::string_view("hi"));
          EXPECT_TRUE(st_.ok()) << st_;
        }
        Uninit buf(16);
        absl::StatusOr<size_t> n = co_await read_into(*server, buf);
        EXPECT_TRUE(n.ok() && *n == 2) << n.status();
      }
      EXPECT_EQ(PoolBytesInUse(), 0u);
      co_return absl::OkStatus();
    }());
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsStreamTest, ReadBeforeHandshakeIsRefused) {
  Runtime rt(Options());
  absl::Status s = rt.block_on([]() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    if (!listener.ok()) co_return listener.status();
    absl::StatusOr<testing_tls::TcpPair> tcp = co_await testing_tls::ConnectTcp(&*listener);
    if (!tcp.ok()) co_return tcp.status();
    absl::StatusOr<TlsStream<TcpStream>> server =
        TlsStream<TcpStream>::Server(std::move(tcp->server), ServerContext(Pki().good));
    if (!server.ok()) co_return server.status();
    Pooled buf;
    absl::StatusOr<size_t> n = co_await read_into(*server, buf);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition);
    const absl::Status w = co_await server->write_all(std::string_view("x"));
    EXPECT_EQ(w.code(), absl::StatusCode::kFailedPrecondition) << w;
    co_return absl::OkStatus();
  }());
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(TlsStreamTest, WritevGathersAndWriteFilledSendsVectoredBuffers) {
  WithPair(GetParam(), [](TlsPair& pair) -> Task<void> {
    std::string a = "head:", b = RandomText(3000, 1), c = RandomText(40000, 2);
    iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    {
      const absl::Status st_ = co_await pair.client.writev_all(std::span<const iovec>(iov, 3));
      EXPECT_TRUE(st_.ok()) << st_;
    }
    std::string got;
    {
      const absl::Status st_ = co_await ReadExactly(&pair.server, a.size() + b.size() + c.size(), &got);
      EXPECT_TRUE(st_.ok()) << st_;
    }
    EXPECT_TRUE(got == a + b + c);
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsStreamTest, ::testing::ValuesIn(Backends()), BackendName);

}  // namespace
}  // namespace readbuf
