// -----------------------------------------------------------------------------
// File: tests/fuzz/tls_record_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes the record stream a TLS server reads after the handshake
// (io/tls_stream.h), on a one-core Runtime (epoll or io_uring). Each input
// sets up a fresh handshaken TlsStream pair over a Unix socket pair; then a
// script drives the client: plaintext sent as valid records, arbitrary raw
// bytes written into the socket under the TLS layer (garbage, partial or
// forged headers, unencrypted alerts), close_notify, or a bare FIN. The
// server reads with read_into into a fuzz-chosen policy (Zeroed, Uninit,
// Vectored<4>, Dyn, Pooled) until EOF or an error, in parallel.
//
// Checks: the server's plaintext is always a prefix of what the client sent
// as records (raw bytes can never become plaintext); without raw bytes it is
// all of it, ending in EOF after close_notify or in DataLoss after a bare
// FIN; an error, once reported, is reported again; the core's pool holds no
// more memory afterwards than before.
//
// Input layout: [backend + policy][op]... where op is
//   0 [len: 2][plaintext]  1 [len: 2][raw bytes]  2 close_notify  3 FIN.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"
#include "io/tls_stream.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/testing/tls_certs.h"

namespace readbuf::fuzz {
namespace {

constexpr size_t kMaxPlain = 64 * 1024;
constexpr size_t kMaxRaw = 4096;

Runtime& RuntimeFor(bool uring) {
  static Runtime* runtimes[2] = {nullptr, nullptr};
  Runtime*& rt = runtimes[uring ? 1 : 0];
  if (rt == nullptr) {
    RuntimeOptions options;
    options.n_cores = 1;
    options.backend = uring ? BackendKind::kUring : BackendKind::kEpoll;
    rt = new Runtime(options);
  }
  return *rt;
}

struct Contexts {
  TlsContext server;
  TlsContext client;
};

const Contexts& Tls() {
  static const Contexts* contexts = [] {
    std::string dir = testing_tls::TestTmpDir() + "/tls_record_fuzz.XXXXXX";
    READBUF_CHECK(mkdtemp(dir.data()) != nullptr, "mkdtemp failed");
    absl::StatusOr<testing_tls::TestPki> pki = testing_tls::MakeTestPki(dir);
    READBUF_CHECK(pki.ok(), "PKI: %s", pki.status().ToString().c_str());
    TlsServerOptions s;
    s.certificate = pki->good.AsCertificate();
    TlsClientOptions c;
    c.ca_pem = pki->ca.cert_pem;
    absl::StatusOr<TlsContext> server = TlsContext::Server(s);
    absl::StatusOr<TlsContext> client = TlsContext::Client(c);
    READBUF_CHECK(server.ok() && client.ok(), "TLS contexts");
    return new Contexts{*server, *client};
  }();
  return *contexts;
}

struct Received {
  std::string plain;
  absl::StatusOr<size_t> end = size_t{0};  // 0 = EOF, else the error
  bool done = false;
};

template <class Policy>
Task<void> ReadAll(TlsStream<UnixStream>* tls, Policy buf, Received* out) {
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(*tls, buf);
    if (!n.ok() || *n == 0) {
      out->end = n;
      if (!n.ok()) {
        // Sticky: the same error again, and no memory held for it.
        absl::StatusOr<size_t> again = co_await read_into(*tls, buf);
        READBUF_CHECK(again.status() == n.status(), "error not sticky: %s then %s",
                      n.status().ToString().c_str(), again.status().ToString().c_str());
      }
      break;
    }
    for_each_filled(buf, [&](std::span<const std::byte> s) {
      out->plain.append(reinterpret_cast<const char*>(s.data()), s.size());
    });
    buf.clear();
  }
  out->done = true;
  tls->close();  // the client's writes fail from now on instead of blocking
}

Task<void> StartReader(int policy, TlsStream<UnixStream>* tls, Received* out) {
  switch (policy) {
    case 0:
      return ReadAll(tls, Zeroed(4096), out);
    case 1:
      return ReadAll(tls, Uninit(8192), out);
    case 2:
      return ReadAll(tls, Vectored<4>(4096), out);
    case 3:
      return ReadAll(tls, Dyn(2048), out);
    default:
      return ReadAll(tls, Pooled(16 * 1024), out);
  }
}

Task<absl::Status> RunOnce(int policy, FuzzInput* script) {
  const size_t pool_before = BufferPool::ForThisThread().Stats().bytes_in_use;
  {
    absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
    if (!pair.ok()) co_return pair.status();
    absl::StatusOr<TlsStream<UnixStream>> server =
        TlsStream<UnixStream>::Server(std::move(pair->first), Tls().server);
    absl::StatusOr<TlsStream<UnixStream>> client =
        TlsStream<UnixStream>::Client(std::move(pair->second), Tls().client, "localhost");
    if (!server.ok() || !client.ok()) co_return absl::InternalError("TLS session setup");
    JoinHandle<absl::Status> server_handshake = spawn(server->handshake());
    absl::Status ch = co_await client->handshake();
    absl::Status sh = co_await server_handshake;
    READBUF_CHECK(ch.ok() && sh.ok(), "handshake: %s / %s", ch.ToString().c_str(),
                  sh.ToString().c_str());

    Received got;
    JoinHandle<void> reader = spawn(StartReader(policy, &*server, &got));
    std::string sent;  // plaintext sent as records
    bool raw = false, close_notify = false, fin = false, write_failed = false;
    size_t plain_budget = kMaxPlain, raw_budget = kMaxRaw;
    while (!script->empty() && !close_notify && !fin && !write_failed) {
      const int op = script->Byte() % 4;
      if (op == 0 || op == 1) {
        const size_t budget = op == 0 ? plain_budget : raw_budget;
        const std::string data = script->Bytes(script->Range<size_t>(0, 65535) % (budget + 1));
        if (data.empty()) continue;
        absl::Status w;
        if (op == 0) {
          plain_budget -= data.size();
          w = co_await client->write_all(data);
          if (w.ok()) sent += data;
        } else {
          raw_budget -= data.size();
          raw = true;
          w = co_await client->next_layer().write_all(data);
        }
        // Only once the server gave up (an error closes its end).
        if (!w.ok()) write_failed = true;
      } else if (op == 2) {
        const absl::Status sent_close_notify = co_await client->shutdown();
        close_notify = sent_close_notify.ok();
        fin = !close_notify;
        (void)client->next_layer().shutdown(SHUT_WR);
      } else {
        fin = true;
        (void)client->next_layer().shutdown(SHUT_WR);
      }
    }
    if (!close_notify && !fin) (void)client->next_layer().shutdown(SHUT_WR);
    absl::Status joined = co_await timeout(reader, absl::Seconds(30));
    READBUF_CHECK(joined.ok(), "reader did not finish: %s", joined.ToString().c_str());
    READBUF_CHECK(got.done, "reader did not finish");

    // Raw bytes never become plaintext.
    READBUF_CHECK(got.plain.size() <= sent.size() && sent.compare(0, got.plain.size(), got.plain) == 0,
                  "server read %zu bytes that are not a prefix of the %zu sent", got.plain.size(),
                  sent.size());
    if (!raw && !write_failed) {
      READBUF_CHECK(got.plain == sent, "lost plaintext: %zu of %zu", got.plain.size(), sent.size());
      if (close_notify) {
        READBUF_CHECK(got.end.ok() && *got.end == 0, "close_notify did not end in EOF: %s",
                      got.end.status().ToString().c_str());
      } else {
        READBUF_CHECK(got.end.status().code() == absl::StatusCode::kDataLoss,
                      "a bare FIN did not end in DataLoss: %s", got.end.status().ToString().c_str());
      }
    }
    if (!got.end.ok()) {
      READBUF_CHECK(!got.end.status().message().empty(), "an error without a message");
    }
  }
  const size_t pool_after = BufferPool::ForThisThread().Stats().bytes_in_use;
  READBUF_CHECK(pool_after == pool_before, "pool bytes held after the run: %zu, %zu before",
                pool_after, pool_before);
  co_return absl::OkStatus();
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  readbuf::fuzz::FuzzInput in(data, size);
  const uint8_t head = in.Byte();
  const bool uring = (head & 1) != 0;
  const int policy = (head >> 1) % 5;
  absl::Status s =
      readbuf::fuzz::RuntimeFor(uring).block_on(readbuf::fuzz::RunOnce(policy, &in));
  READBUF_CHECK(s.ok(), "setup failed: %s", s.ToString().c_str());
  return 0;
}
