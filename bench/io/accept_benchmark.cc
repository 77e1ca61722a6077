// Two ways to spread new connections over the cores, on both backends:
//   BM_Accept/reuseport/<backend>   one SO_REUSEPORT listener per core; the
//                                   kernel picks the core, each core accepts
//                                   and serves its own connections
//   BM_Accept/distribute/<backend>  one listener on core 0, which accepts and
//                                   hands each connection round-robin to a
//                                   core (spawn_on) before its first read
// One iteration is one short connection from a benchmark thread: connect,
// send 1 byte, read the echo, close. Counters: connections/s and the share
// served by core 1 (0.5 is an even spread). Server and clients share the
// 2-core machine, so the figures are whole-system rates.
// Backend argument: 0 = epoll, 1 = io_uring.
//
//   ./bazelw run --config=opt //bench/io:accept_benchmark

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
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

enum class Strategy { kReusePort, kDistribute };

struct Served {
  std::atomic<std::uint64_t> by_core[2] = {};
};

Task<void> EchoOnce(TcpStream s, Served* served) {
  std::byte b[1];
  absl::StatusOr<std::size_t> n = co_await s.read(b);
  if (!n.ok() || *n == 0) co_return;
  if ((co_await s.write_all(std::span(b, 1))).ok()) {
    served->by_core[current_core() & 1].fetch_add(1, std::memory_order_relaxed);
  }
}

// Accepts forever; each connection is served on `core_of(i)`.
Task<void> AcceptLoop(Runtime* rt, TcpListener* l, Strategy strategy, Served* served) {
  std::uint64_t i = 0;
  for (;;) {
    absl::StatusOr<TcpStream> c = co_await l->accept();
    if (!c.ok()) co_return;
    if (strategy == Strategy::kDistribute) {
      rt->spawn_on(static_cast<int>(i++ % 2), EchoOnce(*std::move(c), served)).detach();
    } else {
      spawn(EchoOnce(*std::move(c), served)).detach();
    }
  }
}

// A server runtime with its listeners, shared by the benchmark's threads.
// The runtime is the last member, so it is destroyed first: its tasks (the
// accept loops) are cancelled before their listeners close.
struct Server {
  Server(BackendKind backend, Strategy strategy)
      : rt(RuntimeOptions{.n_cores = 2, .backend = backend,
                          .shutdown_grace = absl::ZeroDuration()}) {
    ListenOptions options;
    options.reuse_port = strategy == Strategy::kReusePort;
    options.backlog = 4096;
    const int n_listeners = strategy == Strategy::kReusePort ? 2 : 1;
    SocketAddress where = *SocketAddress::Parse("127.0.0.1:0");
    for (int i = 0; i < n_listeners; ++i) {
      listeners.push_back(std::make_unique<TcpListener>(*TcpListener::bind(where, options)));
      if (i == 0) where = *listeners[0]->local_addr();
    }
    addr = where;
    for (int i = 0; i < n_listeners; ++i) {
      rt.spawn_on(i, AcceptLoop(&rt, listeners[i].get(), strategy, &served)).detach();
    }
  }
  std::vector<std::unique_ptr<TcpListener>> listeners;
  SocketAddress addr;
  Served served;
  Runtime rt;
};

// One short blocking connection; false on any failure.
bool OneConnection(const SocketAddress& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, addr.sockaddr_ptr(), addr.length()) == 0;
  const char ping = 'x';
  char pong = 0;
  ok = ok && ::send(fd, &ping, 1, MSG_NOSIGNAL) == 1 && ::recv(fd, &pong, 1, 0) == 1;
  // RST instead of TIME_WAIT, so the loop does not run out of ports.
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
  return ok && pong == ping;
}

std::unique_ptr<Server> g_server;

void BM_Accept(benchmark::State& state) {
  const auto strategy = static_cast<Strategy>(state.range(0));
  const BackendKind backend = state.range(1) == 0 ? BackendKind::kEpoll : BackendKind::kUring;
  if (state.thread_index() == 0) g_server = std::make_unique<Server>(backend, strategy);
  // (Google Benchmark starts every thread's loop together, after setup.)
  std::uint64_t failures = 0;
  for (auto _ : state) {
    if (!OneConnection(g_server->addr)) ++failures;
  }
  state.counters["conn/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["failures"] = static_cast<double>(failures);
  if (state.thread_index() == 0) {
    const double c0 = static_cast<double>(g_server->served.by_core[0].load());
    const double c1 = static_cast<double>(g_server->served.by_core[1].load());
    state.counters["core1_share"] = c0 + c1 > 0 ? c1 / (c0 + c1) : 0;
    state.SetLabel(std::string(strategy == Strategy::kReusePort ? "reuseport/" : "distribute/") +
                   g_server->rt.backend_name());
    g_server.reset();
  }
}
BENCHMARK(BM_Accept)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"distribute", "uring"})
    ->Threads(2)
    ->UseRealTime()
    ->MinTime(1.0);

}  // namespace
}  // namespace readbuf
