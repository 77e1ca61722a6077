// Loopback echo through the reactor, on both backends:
//   BM_PingPong64/<backend>   64-byte request/response on 50 connections
//   BM_Stream64K/<backend>    64 KiB writes echoed back on 4 connections
// Server and clients share one 2-core Runtime (the machine has 2 cores), so
// the figures are whole-system round trips, not server-only throughput.
// Backend argument: 0 = epoll, 1 = io_uring.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {
namespace {

Task<void> EchoConn(TcpStream s) {
  std::vector<std::byte> buf(65536);
  for (;;) {
    absl::StatusOr<std::size_t> n = co_await s.read(buf);
    if (!n.ok() || *n == 0) co_return;
    if (!(co_await s.write_all(std::span(buf.data(), *n))).ok()) co_return;
  }
}

Task<void> Serve(TcpListener* l) {
  for (;;) {
    absl::StatusOr<TcpStream> c = co_await l->accept();
    if (!c.ok()) co_return;
    spawn(EchoConn(*std::move(c))).detach();
  }
}

Task<absl::StatusOr<TcpStream>> Connect(SocketAddress a) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(a);
  if (s.ok()) (void)s->set_nodelay(true);
  co_return s;
}

// A runtime, a listener on core 0 and `n` connected clients; client i lives on
// core i % 2 for its whole life.
struct Fixture {
  Fixture(BackendKind backend, int n)
      : rt(RuntimeOptions{.n_cores = 2, .backend = backend,
                          .shutdown_grace = absl::ZeroDuration()}) {
    listener = *TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    SocketAddress addr = *listener.local_addr();
    rt.spawn_on(0, Serve(&listener)).detach();
    for (int i = 0; i < n; ++i) {
      clients.push_back(
          std::make_unique<TcpStream>(*rt.spawn_on(i % 2, Connect(addr)).BlockingJoin()));
    }
  }
  ~Fixture() { rt.Shutdown(absl::ZeroDuration()); }
  Runtime rt;
  TcpListener listener;
  std::vector<std::unique_ptr<TcpStream>> clients;
};

Task<absl::Status> PingPong(TcpStream* s, int rounds) {
  std::byte msg[64] = {};
  std::byte in[64];
  for (int r = 0; r < rounds; ++r) {
    absl::Status w = co_await s->write_all(msg);
    if (!w.ok()) co_return w;
    std::size_t got = 0;
    while (got < sizeof(in)) {
      absl::StatusOr<std::size_t> n =
          co_await s->read(std::span(in + got, sizeof(in) - got));
      if (!n.ok()) co_return n.status();
      if (*n == 0) co_return absl::UnavailableError("EOF");
      got += *n;
    }
  }
  co_return absl::OkStatus();
}

void BM_PingPong64(benchmark::State& state) {
  constexpr int kConns = 50;
  constexpr int kRounds = 100;
  Fixture f(state.range(0) == 0 ? BackendKind::kEpoll : BackendKind::kUring, kConns);
  state.SetLabel(f.rt.backend_name());
  for (auto _ : state) {
    std::vector<JoinHandle<absl::Status>> hs;
    for (int i = 0; i < kConns; ++i) {
      hs.push_back(f.rt.spawn_on(i % 2, PingPong(f.clients[i].get(), kRounds)));
    }
    for (auto& h : hs) {
      absl::Status s = h.BlockingJoin();
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * kConns * kRounds);
}
BENCHMARK(BM_PingPong64)->Arg(0)->Arg(1)->UseRealTime();

Task<absl::Status> WriteChunks(TcpStream* s, int chunks) {
  std::vector<std::byte> out(64 * 1024, std::byte{0x5a});
  for (int i = 0; i < chunks; ++i) {
    absl::Status w = co_await s->write_all(out);
    if (!w.ok()) co_return w;
  }
  co_return absl::OkStatus();
}

Task<absl::Status> Stream(TcpStream* s, int chunks) {
  JoinHandle<absl::Status> writer = spawn(WriteChunks(s, chunks));
  std::vector<std::byte> in(64 * 1024);
  std::size_t want = static_cast<std::size_t>(chunks) * in.size();
  std::size_t got = 0;
  while (got < want) {
    absl::StatusOr<std::size_t> n = co_await s->read(in);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::UnavailableError("EOF");
    got += *n;
  }
  co_return co_await writer;
}

void BM_Stream64K(benchmark::State& state) {
  constexpr int kConns = 4;
  constexpr int kChunks = 64;
  Fixture f(state.range(0) == 0 ? BackendKind::kEpoll : BackendKind::kUring, kConns);
  state.SetLabel(f.rt.backend_name());
  for (auto _ : state) {
    std::vector<JoinHandle<absl::Status>> hs;
    for (int i = 0; i < kConns; ++i) {
      hs.push_back(f.rt.spawn_on(i % 2, Stream(f.clients[i].get(), kChunks)));
    }
    for (auto& h : hs) {
      absl::Status s = h.BlockingJoin();
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    }
  }
  state.SetBytesProcessed(state.iterations() * kConns * kChunks * 64 * 1024);
}
BENCHMARK(BM_Stream64K)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace readbuf
