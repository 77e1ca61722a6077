#include "io/server.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/timer.h"

namespace readbuf {

namespace server_internal {
struct CallbackListener {
  TcpListener listener;
  bool stopping = false;  // on the listener's core
};
}  // namespace server_internal

namespace {

// Makes the fd table hold `n` entries (capped at the soft RLIMIT_NOFILE) by
// placing an fd at n - 1 and closing it: the table keeps its size.
void ReserveFdTable(int n) {
  rlimit limit{};
  if (n <= 0 || ::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(n) > limit.rlim_cur) {
    n = static_cast<int>(limit.rlim_cur);
  }
  const int tmp = ::eventfd(0, EFD_CLOEXEC);  // any fd will do
  if (tmp < 0) return;
  const int fd = ::fcntl(tmp, F_DUPFD_CLOEXEC, n - 1);  // the lowest free fd >= n - 1
  if (fd >= 0) ::close(fd);
  ::close(tmp);
}

sigset_t ServerSignals(const ServerOptions& options) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  for (int s : options.extra_signals) sigaddset(&set, s);
  return set;
}

// Connections accepted in a row before the accept loop lets the core's other
// work run: a burst of thousands of connects would otherwise be accepted in
// one turn (accept completes without suspending while the backlog is not
// empty), delaying timers and established connections by tens of ms. On
// loopback an accept with its first echo costs about 70 us, so 16 keep a
// turn near 1 ms.
constexpr std::uint32_t kAcceptsPerTurn = 16;

// Accepts on `listener` until cancelled; each connection's handler runs as
// a detached task on this core, or on the next core round-robin.
Task<void> AcceptLoop(TcpListener listener, const ConnectionHandler* handler, Runtime* rt,
                      bool distribute, std::shared_ptr<std::atomic<std::uint64_t>> accepted) {
  std::uint32_t next = 0;
  for (std::uint32_t n = 1;; ++n) {
    if (n % kAcceptsPerTurn == 0) co_await yield_now();
    absl::StatusOr<TcpStream> conn = co_await listener.accept();
    if (!conn.ok()) {
      // accept() already backs off on EMFILE and friends; anything else
      // (a closed listener is cancellation) is retried after a pause.
      co_await sleep_for(absl::Milliseconds(50));
      continue;
    }
    accepted->fetch_add(1, std::memory_order_relaxed);
    Task<void> task = (*handler)(*std::move(conn));
    if (distribute) {
      // The stream registers with a core on its first wait: it moves freely
      // until then.
      rt->spawn_on(static_cast<int>(next++ % static_cast<std::uint32_t>(rt->n_cores())),
                   std::move(task))
          .detach();
    } else {
      spawn(std::move(task)).detach();
    }
  }
}

// One core's accept loop in callback mode: it owns the core's
// CallbackConnections. When its listener is closed (StopAccepting) it waits
// for the set to empty; Runtime::Shutdown cancels it after the grace, which
// ends the connections left.
Task<void> CallbackAcceptLoop(std::shared_ptr<server_internal::CallbackListener> l,
                              std::shared_ptr<CallbackHandler> handler,
                              std::shared_ptr<std::atomic<std::uint64_t>> accepted) {
  CallbackConnections conns(*handler);
  for (std::uint32_t n = 1; !l->stopping; ++n) {
    if (n % kAcceptsPerTurn == 0) co_await yield_now();
    absl::StatusOr<TcpStream> conn = co_await l->listener.accept();
    if (l->stopping) break;
    if (!conn.ok()) {
      co_await sleep_for(absl::Milliseconds(50));
      continue;
    }
    accepted->fetch_add(1, std::memory_order_relaxed);
    (void)conns.Add(*std::move(conn));  // on failure the stream is closed
  }
  co_await conns.WhenEmpty();
}

// Runs on the listener's core: ends its accept loop's accepting.
Task<void> StopCallbackListener(std::shared_ptr<server_internal::CallbackListener> l) {
  l->stopping = true;
  l->listener.close();  // wakes the pending accept with an error
  co_return;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Bind(ServerOptions options,
                                                     std::vector<TcpListener>* listeners) {
  std::unique_ptr<Server> server(new Server());
  server->options_ = std::move(options);
  ServerOptions& o = server->options_;
  const bool distribute = o.accept == ServerOptions::Accept::kDistributeFromCore0;
  int cores = o.runtime.n_cores;
  if (cores <= 0) cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores <= 0) cores = 1;
  o.runtime.n_cores = cores;
  o.listen.reuse_port = !distribute;

  SocketAddress addr = o.address;
  for (int i = 0; i < (distribute ? 1 : cores); ++i) {
    absl::StatusOr<TcpListener> l = TcpListener::bind(addr, o.listen);
    if (!l.ok()) return l.status();
    if (i == 0) {
      absl::StatusOr<SocketAddress> bound = l->local_addr();
      if (!bound.ok()) return bound.status();
      addr = *bound;  // the others bind the port the kernel picked
    }
    listeners->push_back(*std::move(l));
  }
  server->local_ = addr;
  ReserveFdTable(o.reserve_fds);

  // Signals go to Run(), never to a core: block them before the threads
  // exist (they inherit the mask).
  const sigset_t signals = ServerSignals(o);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  server->runtime_ = std::make_unique<Runtime>(o.runtime);
  return server;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      ConnectionHandler handler) {
  std::vector<TcpListener> listeners;
  absl::StatusOr<std::unique_ptr<Server>> made = Bind(std::move(options), &listeners);
  if (!made.ok()) return made.status();
  std::unique_ptr<Server> server = *std::move(made);
  const bool distribute = server->options_.accept == ServerOptions::Accept::kDistributeFromCore0;
  auto shared_handler = std::make_shared<ConnectionHandler>(std::move(handler));
  server->handler_ = shared_handler;
  for (size_t i = 0; i < listeners.size(); ++i) {
    server->acceptors_.push_back(server->runtime_->spawn_on(
        static_cast<int>(i), AcceptLoop(std::move(listeners[i]), shared_handler.get(),
                                        server->runtime_.get(), distribute, server->accepted_)));
  }
  return server;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      std::shared_ptr<CallbackHandler> handler) {
  if (handler == nullptr) return absl::InvalidArgumentError("Server::Start: null CallbackHandler");
  if (options.accept == ServerOptions::Accept::kDistributeFromCore0) {
    return absl::InvalidArgumentError(
        "Server::Start: callback connections need Accept::kListenerPerCore (a set serves the "
        "connections of its own core)");
  }
  std::vector<TcpListener> listeners;
  absl::StatusOr<std::unique_ptr<Server>> made = Bind(std::move(options), &listeners);
  if (!made.ok()) return made.status();
  std::unique_ptr<Server> server = *std::move(made);
  server->callback_handler_ = handler;
  for (size_t i = 0; i < listeners.size(); ++i) {
    auto l = std::make_shared<server_internal::CallbackListener>();
    l->listener = std::move(listeners[i]);
    server->callback_listeners_.push_back(l);
    server->acceptors_.push_back(server->runtime_->spawn_on(
        static_cast<int>(i), CallbackAcceptLoop(l, handler, server->accepted_)));
  }
  return server;
}

Server::~Server() { Drain(); }

void Server::Run() {
  const sigset_t signals = ServerSignals(options_);
  while (!stop_.load()) {
    timespec wait{.tv_sec = 0, .tv_nsec = 100'000'000};
    const int sig = ::sigtimedwait(&signals, nullptr, &wait);
    if (sig < 0) continue;  // timeout or EINTR: look at stop_ again
    if (sig == SIGINT || sig == SIGTERM) break;
    if (options_.on_signal) options_.on_signal(sig, *this);
  }
  StopAccepting();
}

void Server::StopAccepting() {
  if (!callback_listeners_.empty()) {
    // Callback mode: close each listener on its core; the accept loops then
    // wait for their connections (Runtime::Shutdown bounds that wait).
    for (size_t i = 0; i < callback_listeners_.size(); ++i) {
      (void)runtime_->spawn_on(static_cast<int>(i), StopCallbackListener(callback_listeners_[i]))
          .BlockingJoin();
    }
    callback_listeners_.clear();
    for (JoinHandle<void>& a : acceptors_) {
      if (a.valid()) a.detach();
    }
    return;
  }
  // Each acceptor is destroyed on its core, closing its listener.
  for (JoinHandle<void>& a : acceptors_) {
    if (!a.valid()) continue;
    a.cancel();
    (void)a.BlockingJoin();
    a.detach();
  }
}

void Server::Drain() {
  if (runtime_ == nullptr) return;  // Start() failed before the cores started
  StopAccepting();
  runtime_->Shutdown(options_.shutdown_grace);
}

}  // namespace readbuf
