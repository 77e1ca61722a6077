// -----------------------------------------------------------------------------
// File: examples/proxy.cc
// -----------------------------------------------------------------------------
//
// A TCP proxy on readbuf: every connection accepted on --listen is connected
// to --upstream, and copy_bidirectional (io/copy_bidirectional.h) carries the
// bytes both ways -- with splice(2), so they never enter user space, unless
// --splice=false (then through pool blocks, held only while data moves). A
// half-close travels through: when one side shuts down its writing half, the
// proxy shuts down the other side's. The main is flags plus io/server.h.
//
//   proxy --listen=127.0.0.1:8080 --upstream=127.0.0.1:9000 --threads=2
//
// Once ready it prints exactly one line, "listening <port>", and flushes it.
// SIGINT or SIGTERM stops it: the listeners close, connections get
// --shutdown_grace, then are cancelled; exit status 0. Bad flags print the
// usage and exit with status 2. With --verbose, one line per connection on
// stderr: the byte counts each way and how it ended.

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "io/address.h"
#include "io/copy_bidirectional.h"
#include "io/net.h"
#include "io/server.h"
#include "io/task.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address to listen on (port 0: any free port).");
ABSL_FLAG(std::string, upstream, "", "Address to forward connections to (required).");
ABSL_FLAG(int, threads, 1, "Reactor cores.");
ABSL_FLAG(std::string, backend, "epoll", "Event loop: epoll or uring.");
ABSL_FLAG(bool, splice, true, "Move the bytes with splice(2) (no user-space copy).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "How long connections may run on after SIGINT/SIGTERM.");
ABSL_FLAG(bool, verbose, false, "One line per connection on stderr.");

namespace {

constexpr char kUsage[] =
    "Usage: proxy --upstream=HOST:PORT [--listen=HOST:PORT] [--threads=T]\n"
    "             [--backend=epoll|uring] [--splice=true|false] [--verbose]\n"
    "Prints 'listening <port>' when ready; SIGINT/SIGTERM stop it.";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "proxy: %s\n%s\n", problem.c_str(), kUsage);
  return 2;
}

readbuf::Task<void> Forward(readbuf::TcpStream client, readbuf::SocketAddress upstream,
                            readbuf::PooledCopyOptions options, bool verbose) {
  absl::StatusOr<readbuf::TcpStream> up = co_await readbuf::TcpStream::connect(upstream);
  if (!up.ok()) {
    if (verbose) std::fprintf(stderr, "proxy: %s\n", up.status().ToString().c_str());
    co_return;  // the client sees the connection close
  }
  (void)client.set_nodelay(true);
  (void)up->set_nodelay(true);
  readbuf::BidirectionalCopy r = co_await readbuf::copy_bidirectional(client, *up, options);
  if (verbose) {
    std::fprintf(stderr, "proxy: %llu bytes up, %llu down: %s\n",
                 static_cast<unsigned long long>(r.a_to_b),
                 static_cast<unsigned long long>(r.b_to_a), r.status.ToString().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Usage(std::string("unexpected argument '") + rest[1] + "'");
  absl::StatusOr<readbuf::SocketAddress> listen =
      readbuf::SocketAddress::Parse(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return Usage("--listen: " + std::string(listen.status().message()));
  if (absl::GetFlag(FLAGS_upstream).empty()) return Usage("--upstream is required");
  absl::StatusOr<readbuf::SocketAddress> upstream =
      readbuf::SocketAddress::Parse(absl::GetFlag(FLAGS_upstream));
  if (!upstream.ok()) return Usage("--upstream: " + std::string(upstream.status().message()));
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1 || threads > 256) return Usage("--threads must be in 1..256");
  const std::string backend = absl::GetFlag(FLAGS_backend);
  if (backend != "epoll" && backend != "uring") return Usage("unknown --backend=" + backend);

  readbuf::ServerOptions options;
  options.address = *listen;
  options.runtime.n_cores = threads;
  options.runtime.backend =
      backend == "uring" ? readbuf::BackendKind::kUring : readbuf::BackendKind::kEpoll;
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  readbuf::PooledCopyOptions copy;
  copy.allow_splice = absl::GetFlag(FLAGS_splice);
  const bool verbose = absl::GetFlag(FLAGS_verbose);
  const readbuf::SocketAddress to = *upstream;
  absl::StatusOr<std::unique_ptr<readbuf::Server>> server = readbuf::Server::Start(
      std::move(options), [to, copy, verbose](readbuf::TcpStream client) {
        return Forward(std::move(client), to, copy, verbose);
      });
  if (!server.ok()) {
    std::fprintf(stderr, "proxy: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("listening %u\n", (*server)->local_address().port());
  std::fflush(stdout);
  (*server)->Run();
  return 0;
}
