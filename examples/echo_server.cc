// -----------------------------------------------------------------------------
// File: examples/echo_server.cc
// -----------------------------------------------------------------------------
//
// A TCP echo server on readbuf's per-core reactor, with the read buffer policy
// chosen on the command line. The connection handler is one template,
// Echo<Policy>; nothing else changes between policies. Each core runs its own
// SO_REUSEPORT listener and serves the connections it accepts, so tasks never
// leave their core.
//
//   echo_server --port=0 --threads=2 --policy=pooled --backend=epoll
//
// --policy=uring (with --backend=uring) reads through each core's io_uring
// provided-buffer ring instead (pooled_read, io/ring_read.h): one multishot
// recv per connection, the kernel picks a pool buffer only when data arrives,
// and the echo writes from that block (no copy).
//
// Once ready it prints exactly one line, "listening <port>", and flushes it.
// SIGINT or SIGTERM stops it: listeners close, live connections get up to
// --shutdown_grace to finish, then are cancelled; exit status 0. Bad flags
// print the usage and exit with status 2.

// GCC 12 rejects the std::atomic_thread_fence that absl::GetFlag inlines for
// a sequence-locked flag (absl::Duration) under -fsanitize=thread
// (-Werror=tsan); TSan does not model that fence, and Abseil's own flags are
// the only user here. (Before the includes: the
// diagnostic is reported at <atomic>'s line.)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/address.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"

ABSL_FLAG(int, port, 0, "TCP port on --host (0 = let the kernel pick one).");
ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, threads, 1, "Reactor cores (threads), one listener each.");
ABSL_FLAG(std::string, policy, "pooled",
          "Read buffer policy: zeroed, uninit, vectored, dyn, pooled, or uring "
          "(io_uring provided-buffer ring; requires --backend=uring).");
ABSL_FLAG(std::string, backend, "epoll", "Event loop: epoll or uring.");
ABSL_FLAG(int, buffer_size, 8192,
          "Per-connection buffer bytes for zeroed, uninit, vectored and dyn. "
          "pooled sizes each read adaptively between 512 B and 128 KiB and holds "
          "nothing while a connection is idle.");
ABSL_FLAG(bool, pin, false, "Pin core i to CPU i.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(1),
          "How long live connections may run after SIGINT/SIGTERM.");

namespace {

constexpr char kUsage[] =
    "A TCP echo server; the read buffer policy is a flag.\n"
    "Usage: echo_server [--port=P] [--host=ADDR] [--threads=T]\n"
    "                   [--policy=zeroed|uninit|vectored|dyn|pooled|uring]\n"
    "                   [--backend=epoll|uring] [--buffer_size=N] [--pin]\n"
    "Prints 'listening <port>' when ready; SIGINT/SIGTERM stop it.";

// The whole connection handler, the same for every policy.
template <class Policy>
readbuf::Task<void> Echo(readbuf::TcpStream conn, Policy buf) {
  (void)conn.set_nodelay(true);
  for (;;) {
    absl::StatusOr<size_t> n = co_await readbuf::read_into(conn, buf);
    if (!n.ok() || *n == 0) co_return;  // error or EOF: close
    absl::Status written = co_await readbuf::write_filled(conn, buf);
    if (!written.ok()) co_return;
    buf.clear();
  }
}

// The connection handler for --policy=uring: each read is a PoolBytes the
// kernel filled from the core's provided-buffer ring.
struct RingPolicy {
  explicit RingPolicy(size_t) {}
};

readbuf::Task<void> Echo(readbuf::TcpStream conn, RingPolicy) {
  (void)conn.set_nodelay(true);
  for (;;) {
    absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes = co_await readbuf::pooled_read(conn);
    if (!bytes.ok() || !bytes->has_value()) co_return;  // error or EOF: close
    absl::Status written = co_await conn.write_all((*bytes)->span());
    if (!written.ok()) co_return;
  }
}

template <class Policy>
readbuf::Task<void> AcceptLoop(readbuf::TcpListener listener, size_t buffer_size) {
  for (;;) {
    absl::StatusOr<readbuf::TcpStream> conn = co_await listener.accept();
    if (!conn.ok()) {
      // EMFILE/ENFILE: back off instead of spinning; other errors likewise.
      std::fprintf(stderr, "echo_server: accept: %s\n", conn.status().ToString().c_str());
      co_await readbuf::sleep_for(absl::Milliseconds(50));
      continue;
    }
    readbuf::spawn(Echo(*std::move(conn), Policy(buffer_size))).detach();
  }
}

template <class Policy>
void Serve(readbuf::Runtime& rt, std::vector<readbuf::TcpListener>& listeners,
           size_t buffer_size, std::vector<readbuf::JoinHandle<void>>& acceptors) {
  for (size_t i = 0; i < listeners.size(); ++i) {
    acceptors.push_back(rt.spawn_on(static_cast<int>(i),
                                    AcceptLoop<Policy>(std::move(listeners[i]), buffer_size)));
  }
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "echo_server: %s\n%s\n", problem.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Usage(std::string("unexpected argument '") + rest[1] + "'");
  const int threads = absl::GetFlag(FLAGS_threads);
  const int port = absl::GetFlag(FLAGS_port);
  const std::string policy = absl::GetFlag(FLAGS_policy);
  const std::string backend = absl::GetFlag(FLAGS_backend);
  const int buffer_size = absl::GetFlag(FLAGS_buffer_size);
  if (threads < 1 || threads > 256) return Usage("--threads must be in 1..256");
  if (port < 0 || port > 65535) return Usage("--port must be in 0..65535");
  if (buffer_size < 64) return Usage("--buffer_size must be at least 64");
  if (policy != "zeroed" && policy != "uninit" && policy != "vectored" && policy != "dyn" &&
      policy != "pooled" && policy != "uring") {
    return Usage("unknown --policy=" + policy);
  }
  if (backend != "epoll" && backend != "uring") return Usage("unknown --backend=" + backend);
  if (policy == "uring" && backend != "uring") {
    return Usage("--policy=uring needs --backend=uring");
  }
  absl::StatusOr<readbuf::SocketAddress> addr =
      readbuf::SocketAddress::Parse(absl::GetFlag(FLAGS_host) + ":" + std::to_string(port));
  if (!addr.ok()) return Usage(std::string(addr.status().message()));

  // Many connections need many fds: raise the soft limit to the hard one.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  // Signals go to sigwait() below, not to the reactor threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // One SO_REUSEPORT listener per core, all on the same port.
  std::vector<readbuf::TcpListener> listeners;
  readbuf::ListenOptions listen_options;
  listen_options.reuse_port = true;
  listen_options.backlog = 4096;
  for (int i = 0; i < threads; ++i) {
    absl::StatusOr<readbuf::TcpListener> l = readbuf::TcpListener::bind(*addr, listen_options);
    if (!l.ok()) {
      std::fprintf(stderr, "echo_server: %s\n", l.status().ToString().c_str());
      return 1;
    }
    if (i == 0) *addr = *l->local_addr();  // the port the kernel picked
    listeners.push_back(*std::move(l));
  }

  readbuf::RuntimeOptions options;
  options.n_cores = threads;
  options.pin_threads = absl::GetFlag(FLAGS_pin);
  options.backend =
      backend == "uring" ? readbuf::BackendKind::kUring : readbuf::BackendKind::kEpoll;
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  readbuf::Runtime rt(options);
  if (!rt.backend_note().empty()) {
    std::fprintf(stderr, "echo_server: %s\n", rt.backend_note().c_str());
  }

  const auto size = static_cast<size_t>(buffer_size);
  std::vector<readbuf::JoinHandle<void>> acceptors;
  if (policy == "zeroed") {
    Serve<readbuf::Zeroed>(rt, listeners, size, acceptors);
  } else if (policy == "uninit") {
    Serve<readbuf::Uninit>(rt, listeners, size, acceptors);
  } else if (policy == "vectored") {
    Serve<readbuf::Vectored<4>>(rt, listeners, size, acceptors);
  } else if (policy == "dyn") {
    Serve<readbuf::Dyn>(rt, listeners, size, acceptors);
  } else if (policy == "uring") {
    Serve<RingPolicy>(rt, listeners, 0, acceptors);
  } else {
    Serve<readbuf::Pooled>(rt, listeners, 128 * 1024, acceptors);
  }

  std::printf("listening %u\n", addr->port());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  for (auto& a : acceptors) a.cancel();  // closes the listeners on their cores
  rt.Shutdown(options.shutdown_grace);
  return 0;
}
