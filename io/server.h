// -----------------------------------------------------------------------------
// File: io/server.h
// -----------------------------------------------------------------------------
//
// Server: what every TCP server's main() repeats, once. It blocks SIGINT and
// SIGTERM (and any signals the caller names) before the reactor threads
// start, so they arrive at Run() and never interrupt a core; starts a
// Runtime; listens on every core (one SO_REUSEPORT listener per core, or one
// listener on core 0 that hands each connection to the next core); runs a
// connection handler Task per accepted connection on the core that owns it;
// and on SIGINT/SIGTERM (or Stop()) stops accepting, lets the connections
// finish for `shutdown_grace`, then cancels the rest.
//
// Example:
//
//   readbuf::ServerOptions options;
//   options.address = *readbuf::SocketAddress::Parse("0.0.0.0:8080");
//   absl::StatusOr<std::unique_ptr<readbuf::Server>> server = readbuf::Server::Start(
//       options, [](readbuf::TcpStream conn) -> readbuf::Task<void> { ... });
//   if (!server.ok()) return 1;
//   std::printf("listening %u\n", (*server)->local_address().port());
//   (*server)->Run();   // until SIGINT/SIGTERM; then stops accepting
//   server->reset();    // connections get shutdown_grace, then the cores stop
//
// Connections are detached tasks: a handler that never ends is cancelled at
// shutdown after the grace period (io/runtime.h's cancellation contract).
// A handler that must outlive nothing of main's may capture by value only.
//
// Callback connections: Start(options, std::shared_ptr<CallbackHandler>)
// serves every connection by callbacks instead (io/callback_connection.h):
// no task per connection, each core's accept loop owns a
// CallbackConnections set. At shutdown the listeners close, the sets get
// shutdown_grace to empty, then the rest end with OnClose(CancelledError).
//
// Thread safety: Start, Run and destruction on one thread (main); Stop() and
// runtime() from any thread.

#ifndef READBUF_IO_SERVER_H_
#define READBUF_IO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "io/address.h"
#include "io/callback_connection.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {

struct ServerOptions {
  // Where to listen. Port 0 picks a free port (see Server::local_address()).
  // Default: 0.0.0.0:0.
  SocketAddress address = *SocketAddress::Parse("0.0.0.0:0");
  // The Runtime: cores (0 = hardware_concurrency()), backend, pinning.
  RuntimeOptions runtime;
  // How connections reach cores.
  enum class Accept {
    kListenerPerCore,      // one SO_REUSEPORT listener per core (the kernel spreads)
    kDistributeFromCore0,  // core 0 accepts, round-robin to every core
  };
  // Default: kListenerPerCore.
  Accept accept = Accept::kListenerPerCore;
  // backlog, SO_REUSEADDR (reuse_port is set as `accept` needs). Default
  // backlog: 4096.
  ListenOptions listen = {.backlog = 4096};
  // Grows the process's fd table to this many entries before the cores start
  // (one dup2 to fd N-1, closed again), capped at RLIMIT_NOFILE's soft
  // limit. The kernel grows the table by doubling as fds are opened, and
  // once threads share it every growth waits for an RCU grace period: 10-40
  // ms during which the core that accepted is stalled (7 growths on the way
  // to 10,000 connections). About 8 bytes of kernel memory per entry. 0:
  // leave the table alone. Default: 65536.
  int reserve_fds = 65536;
  // How long connections may run on after shutdown begins. Default: 5 s.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // Signals Run() waits for besides SIGINT and SIGTERM (which stop the
  // server); each one that arrives calls on_signal(signal, server) on Run()'s
  // thread. Blocked in every thread from Start() on.
  std::vector<int> extra_signals;
  std::function<void(int signal, class Server& server)> on_signal;
};

namespace server_internal {
struct CallbackListener;  // one core's listener in callback mode (server.cc)
}  // namespace server_internal

// The per-connection handler: owns the stream; runs on the connection's core.
using ConnectionHandler = std::function<Task<void>(TcpStream)>;

class Server {
 public:
  // Binds the listeners, starts the Runtime and begins accepting.
  // Errors: the address's bind/listen error (naming it); InvalidArgument for
  // a non-IP address.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       ConnectionHandler handler);
  // The same, serving connections by callbacks (see the file comment).
  // REQUIRES: handler != nullptr.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       std::shared_ptr<CallbackHandler> handler);

  // Stops accepting, gives connections shutdown_grace to finish, cancels
  // the rest, and stops the cores.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address (with the port the kernel picked for port 0).
  const SocketAddress& local_address() const { return local_; }
  Runtime& runtime() { return *runtime_; }

  // Waits for SIGINT or SIGTERM (or Stop()), calling on_signal for the extra
  // signals meanwhile; then stops accepting (the listeners close) and
  // returns. The connections run on until the Server is destroyed.
  void Run();
  // Makes Run() return (within 100 ms). Any thread.
  void Stop() { stop_.store(true); }

  // Connections accepted so far (all cores).
  std::uint64_t connections_accepted() const { return accepted_->load(); }

 private:
  Server() = default;
  // Binds the listeners and starts the Runtime (signals blocked first).
  static absl::StatusOr<std::unique_ptr<Server>> Bind(ServerOptions options,
                                                      std::vector<TcpListener>* listeners);
  void StopAccepting();
  void Drain();

  ServerOptions options_;
  SocketAddress local_;
  std::unique_ptr<Runtime> runtime_;
  std::shared_ptr<ConnectionHandler> handler_;  // the accept loops call it
  std::shared_ptr<CallbackHandler> callback_handler_;
  // Callback mode: closed on their cores to stop accepting.
  std::vector<std::shared_ptr<server_internal::CallbackListener>> callback_listeners_;
  std::vector<JoinHandle<void>> acceptors_;
  std::shared_ptr<std::atomic<std::uint64_t>> accepted_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::atomic<bool> stop_{false};
};

}  // namespace readbuf

#endif  // READBUF_IO_SERVER_H_
