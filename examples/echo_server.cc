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
// --policy=uring (which implies --backend=uring) reads through each core's io_uring
// provided-buffer ring instead (pooled_read, io/ring_read.h): one multishot
// recv per connection, the kernel picks a pool buffer only when data arrives,
// and the echo sends from that block (no copy) with StreamSocket::send_all:
// up to 16 KiB as an IORING_OP_SEND, so a small round trip makes no read or
// write system call (the core's one io_uring_enter per loop carries them).
//
// Once ready it prints exactly one line, "listening <port>", and flushes it.
// SIGINT or SIGTERM stops it: listeners close, live connections get up to
// --shutdown_grace to finish, then are cancelled; exit status 0. Bad flags
// print the usage and exit with status 2.
//
// Stats (--stats_file=PATH, for benchmarks and soak tests): on SIGUSR1 the
// server collects, on every core, that core's BufferPool::Stats() and
// recv_ring_stats(), sums them, and writes ONE line of space-separated
// `key=value` pairs (values are non-negative decimal integers), ending in
// '\n', to PATH.tmp and renames it to PATH (so a reader never sees half a
// line). On SIGUSR2 it first trims every core's memory (io/trim_memory.h:
// the pool's free lists, cached coroutine frames, free allocator pages) and
// then writes the line the same way. Keys, in this order:
//   seq                     1 for the first line written, then 2, 3, ...
//   cores                   reactor cores summed over
//   connections             connections being served now
//   conn_owned_buffer_bytes capacity that non-pool policies' buffers (zeroed,
//                           uninit, vectored, dyn) hold while their
//                           connections wait for data (0 for pooled, uring)
//   pool_bytes_in_use       BufferPoolStats::bytes_in_use (blocks handed out,
//                           including those registered in a recv ring)
//   pool_bytes_retained     BufferPoolStats::bytes_retained (free-list cache)
//   pool_blocks_in_use, pool_hits, pool_misses, pool_trims
//   ring_bytes_registered   RecvRingStats::bytes_registered
//   ring_queued_pool_bytes  RecvRingStats::queued_pool_bytes
//   ring_enobufs            RecvRingStats::enobufs
//   ring_fallback_reads     RecvRingStats::fallback_reads
//   ring_completions, ring_bytes_received, ring_arms, ring_queue_cap_pauses
//                           the RecvRingStats counters of those names
//   rss_bytes               the process's resident set size (/proc/self/statm)
//   stall_max_us            the largest lateness of any core's stall watchdog
//                           wake-up (io/stall_watchdog.h), in microseconds,
//                           since the previous stats line (since start for
//                           the first line), a wake-up overdue now included;
//                           0 without --stall_watchdog_period
//   stall_own_max_us        the same without the time the OS kept a core's
//                           thread waiting for a CPU (StallWatchdog::
//                           TakeReading: what the server's own work caused)
//   stall_ticks             watchdog wake-ups of all cores since start; 0
//                           without --stall_watchdog_period
// Without --stats_file, SIGUSR1 and SIGUSR2 are ignored.
//
// --tls_cert=PEM --tls_key=PEM serve TLS instead (io/tls_stream.h): each
// connection does the server handshake, then echoes the plaintext with the
// same policy (read_into decrypts straight into the policy's memory), and
// answers the client's close_notify with its own. Not with --policy=uring.
//
// --api=callback serves each connection by callbacks instead of a coroutine
// (io/callback_connection.h): no frame or task per connection; each read
// takes a pool block sized adaptively (512 B .. 128 KiB) and the echo writes
// from it. Only with --policy=pooled (the only policy it has) and no TLS.
//
// --stall_watchdog_period=D (e.g. 5ms; default 0 = off) runs a StallWatchdog:
// every core wakes every D and records how late it woke, i.e. how long the
// core could not run its timers (a task blocking or spinning on it).

// GCC 12 rejects the std::atomic_thread_fence that absl::GetFlag inlines for
// a sequence-locked flag (absl::Duration) under -fsanitize=thread
// (-Werror=tsan); TSan does not model that fence, and Abseil's own flags are
// the only user here. (Before the includes: the
// diagnostic is reported at <atomic>'s line.)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "examples/stats_file.h"
#include "io/address.h"
#include "io/callback_connection.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/server.h"
#include "io/stall_watchdog.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"
#include "io/tls_stream.h"
#include "io/trim_memory.h"

ABSL_FLAG(int, port, 0, "TCP port on --host (0 = let the kernel pick one).");
ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, threads, 1, "Reactor cores (threads), one listener each.");
ABSL_FLAG(std::string, policy, "pooled",
          "Read buffer policy: zeroed, uninit, vectored, dyn, pooled, or uring "
          "(io_uring provided-buffer ring; selects --backend=uring).");
ABSL_FLAG(std::string, backend, "",
          "Event loop: epoll or uring. Default: uring for --policy=uring, else epoll.");
ABSL_FLAG(int, buffer_size, 8192,
          "Per-connection buffer bytes for zeroed, uninit, vectored and dyn. "
          "pooled sizes each read adaptively between 512 B and 128 KiB and holds "
          "nothing while a connection is idle.");
ABSL_FLAG(std::string, api, "coroutine",
          "Connection API: coroutine (a task per connection, Echo<Policy>) or callback "
          "(io/callback_connection.h: no task per connection; --policy=pooled only).");
ABSL_FLAG(bool, pin, false, "Pin core i to CPU i.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(1),
          "How long live connections may run after SIGINT/SIGTERM.");
ABSL_FLAG(std::string, stats_file, "",
          "If set: on SIGUSR1 write one line of key=value pool/ring/RSS stats "
          "to this path (atomically: PATH.tmp, then rename); on SIGUSR2 trim "
          "every core's pool first, then write the line. Keys: seq cores "
          "connections conn_owned_buffer_bytes pool_bytes_in_use "
          "pool_bytes_retained pool_blocks_in_use pool_hits pool_misses "
          "pool_trims ring_bytes_registered ring_queued_pool_bytes ring_enobufs "
          "ring_fallback_reads ring_completions ring_bytes_received ring_arms "
          "ring_queue_cap_pauses rss_bytes stall_max_us stall_ticks.");
ABSL_FLAG(std::string, tls_cert, "",
          "If set (with --tls_key): serve TLS with this PEM certificate chain.");
ABSL_FLAG(std::string, tls_key, "", "The PEM private key for --tls_cert.");
ABSL_FLAG(absl::Duration, stall_watchdog_period, absl::ZeroDuration(),
          "If positive (at least 100us, e.g. 5ms): run a stall watchdog that wakes "
          "every core this often and records how late it woke; reported as "
          "stall_max_us and stall_ticks in the --stats_file line. 0 = off.");

namespace {

constexpr char kUsage[] =
    "A TCP echo server; the read buffer policy is a flag.\n"
    "Usage: echo_server [--port=P] [--host=ADDR] [--threads=T]\n"
    "                   [--policy=zeroed|uninit|vectored|dyn|pooled|uring]\n"
    "                   [--backend=epoll|uring] [--buffer_size=N] [--pin]\n"
    "                   [--api=coroutine|callback]\n"
    "                   [--stats_file=PATH] [--stall_watchdog_period=D]\n"
    "                   [--tls_cert=PEM --tls_key=PEM]\n"
    "Prints 'listening <port>' when ready; SIGINT/SIGTERM stop it.\n"
    "With --stats_file, SIGUSR1 writes one line of key=value stats to PATH\n"
    "(via PATH.tmp + rename); SIGUSR2 trims every core's pool, then writes it.";

// Connections being served, and the buffer capacity that non-pool policies
// hold while their connections wait (both for --stats_file).
std::atomic<int64_t> g_connections{0};
std::atomic<int64_t> g_conn_owned_buffer_bytes{0};

// Counts one connection and the capacity its own (non-pool) buffer holds
// while it waits for data.
class ConnectionAccount {
 public:
  ConnectionAccount() { g_connections.fetch_add(1, std::memory_order_relaxed); }
  ConnectionAccount(const ConnectionAccount&) = delete;
  ConnectionAccount& operator=(const ConnectionAccount&) = delete;
  ~ConnectionAccount() {
    g_connections.fetch_sub(1, std::memory_order_relaxed);
    SetHeldBytes(0);
  }
  void SetHeldBytes(size_t bytes) {
    const auto now = static_cast<int64_t>(bytes);
    if (now != held_) g_conn_owned_buffer_bytes.fetch_add(now - held_, std::memory_order_relaxed);
    held_ = now;
  }

 private:
  int64_t held_ = 0;
};

// A connection counted in --stats_file while this object owns it: one
// connection, plus the capacity a non-pool policy's buffer holds while the
// connection waits (fixed for those policies; Pooled holds none). The count
// lives in the stream object rather than beside it, so Echo<Pooled>'s frame
// pays no bytes for it.
template <class Policy>
class CountedStream : public readbuf::TcpStream {
  static constexpr bool kHoldsWhileIdle = !std::is_same_v<Policy, readbuf::Pooled>;

 public:
  CountedStream(readbuf::TcpStream conn, const Policy& buf) : TcpStream(std::move(conn)) {
    g_connections.fetch_add(1, std::memory_order_relaxed);
    if constexpr (kHoldsWhileIdle) {
      held_.bytes = static_cast<int64_t>(buf.capacity());
      g_conn_owned_buffer_bytes.fetch_add(held_.bytes, std::memory_order_relaxed);
    }
  }
  // Moves the count with the connection.
  CountedStream(CountedStream&& o) noexcept : TcpStream(std::move(o)), held_(o.held_) {}
  ~CountedStream() {
    if (!is_open()) return;  // moved from
    g_connections.fetch_sub(1, std::memory_order_relaxed);
    if constexpr (kHoldsWhileIdle) {
      g_conn_owned_buffer_bytes.fetch_sub(held_.bytes, std::memory_order_relaxed);
    }
  }

 private:
  struct HeldBytes {
    int64_t bytes = 0;
  };
  struct NoHeldBytes {};
  [[no_unique_address]] std::conditional_t<kHoldsWhileIdle, HeldBytes, NoHeldBytes> held_;
};

// The whole connection handler, the same for every policy.
template <class Policy>
readbuf::Task<void> Echo(CountedStream<Policy> conn, Policy buf) {
  (void)conn.set_nodelay(true);
  for (;;) {
    absl::StatusOr<size_t> n = co_await readbuf::read_into(conn, buf);
    if (!n.ok() || *n == 0) co_return;  // error or EOF: close
    absl::Status written = co_await readbuf::write_filled(conn, buf);
    if (!written.ok()) co_return;
    buf.clear();
  }
}

// The TLS connection handler (--tls_cert): the same loop over a TlsStream.
template <class Policy>
readbuf::Task<void> TlsEcho(readbuf::TcpStream conn, Policy buf, readbuf::TlsContext ctx) {
  (void)conn.set_nodelay(true);
  ConnectionAccount account;
  absl::StatusOr<readbuf::TlsStream<readbuf::TcpStream>> tls =
      readbuf::TlsStream<readbuf::TcpStream>::Server(std::move(conn), ctx);
  if (!tls.ok()) co_return;
  if (absl::Status handshake = co_await tls->handshake(); !handshake.ok()) co_return;
  for (;;) {
    readbuf::read_buf_traits<Policy>::release_idle(buf);
    account.SetHeldBytes(std::is_same_v<Policy, readbuf::Pooled> ? 0 : buf.capacity());
    absl::StatusOr<size_t> n = co_await readbuf::read_into(*tls, buf);
    if (!n.ok()) co_return;  // error: close
    if (*n == 0) {           // close_notify: answer it, then close
      (void)co_await readbuf::graceful_close(*tls, absl::Seconds(1));
      co_return;
    }
    absl::Status written = co_await readbuf::write_filled(*tls, buf);
    if (!written.ok()) co_return;
    buf.clear();
  }
}

// The connection handler for --policy=uring: each read is a PoolBytes the
// kernel filled from the core's provided-buffer ring, echoed from that block
// with send_all (an IORING_OP_SEND up to 16 KiB, write(2) above).
struct RingPolicy {
  explicit RingPolicy(size_t) {}
};

readbuf::Task<void> Echo(readbuf::TcpStream conn, RingPolicy) {
  (void)conn.set_nodelay(true);
  ConnectionAccount account;
  for (;;) {
    absl::StatusOr<std::optional<readbuf::PoolBytes>> bytes = co_await readbuf::pooled_read(conn);
    if (!bytes.ok() || !bytes->has_value()) co_return;  // error or EOF: close
    absl::Status written = co_await conn.send_all((*bytes)->span());
    if (!written.ok()) co_return;
  }
}

// The connection handler for --api=callback: no task per connection; each
// read's bytes are written back from the pool block they arrived in (what
// the socket does not take at once is copied and sent when it drains).
class CallbackEcho : public readbuf::CallbackHandler {
 public:
  void OnOpen(readbuf::CallbackConnection& conn) override {
    const int one = 1;
    (void)::setsockopt(conn.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    g_connections.fetch_add(1, std::memory_order_relaxed);
  }
  void OnData(readbuf::CallbackConnection& conn, std::span<const std::byte> bytes) override {
    conn.Write(bytes);
  }
  void OnClose(readbuf::CallbackConnection&, const absl::Status&) override {
    g_connections.fetch_sub(1, std::memory_order_relaxed);
  }
};

// The connection handler for --policy (every connection gets its own buffer).
readbuf::ConnectionHandler HandlerFor(const std::string& policy, size_t buffer_size,
                                      const readbuf::TlsContext& tls) {
  auto with = [buffer_size, tls]<class Policy>(Policy*) -> readbuf::ConnectionHandler {
    if (tls.valid()) {
      return [buffer_size, tls](readbuf::TcpStream conn) {
        return TlsEcho(std::move(conn), Policy(buffer_size), tls);
      };
    }
    return [buffer_size](readbuf::TcpStream conn) {
      Policy buf(buffer_size);
      CountedStream<Policy> counted(std::move(conn), buf);
      return Echo(std::move(counted), std::move(buf));
    };
  };
  if (policy == "zeroed") return with(static_cast<readbuf::Zeroed*>(nullptr));
  if (policy == "uninit") return with(static_cast<readbuf::Uninit*>(nullptr));
  if (policy == "vectored") return with(static_cast<readbuf::Vectored<4>*>(nullptr));
  if (policy == "dyn") return with(static_cast<readbuf::Dyn*>(nullptr));
  if (policy == "uring") {
    return [](readbuf::TcpStream conn) { return Echo(std::move(conn), RingPolicy(0)); };
  }
  if (tls.valid()) {
    return [tls](readbuf::TcpStream conn) {
      return TlsEcho(std::move(conn), readbuf::Pooled(128 * 1024), tls);
    };
  }
  return [](readbuf::TcpStream conn) {
    readbuf::Pooled buf(128 * 1024);
    CountedStream<readbuf::Pooled> counted(std::move(conn), buf);
    return Echo(std::move(counted), std::move(buf));
  };
}

// One core's share of the stats line.
struct CoreStats {
  readbuf::BufferPoolStats pool;
  readbuf::RecvRingStats ring;
};

readbuf::Task<CoreStats> CollectCoreStats(bool trim_first) {
  readbuf::BufferPool& pool = readbuf::BufferPool::ForThisThread();
  // The pool's free lists, the frame cache and the allocator's free pages.
  if (trim_first) (void)readbuf::TrimThisCore();
  co_return CoreStats{pool.Stats(), readbuf::recv_ring_stats()};
}

// Collects every core's stats (trimming each pool first if asked) and writes
// the stats line to `path` via `path`.tmp + rename.
// `watchdog` may be null (stall_max_us and stall_ticks are then 0); its
// interval restarts with each line.
absl::Status WriteStatsFile(readbuf::Runtime& rt, const std::string& path, bool trim_first,
                            uint64_t seq, readbuf::StallWatchdog* watchdog) {
  readbuf::BufferPoolStats pool;
  readbuf::RecvRingStats ring;
  for (int core = 0; core < rt.n_cores(); ++core) {
    absl::StatusOr<CoreStats> s = rt.spawn_on(core, CollectCoreStats(trim_first)).BlockingJoin();
    if (!s.ok()) return s.status();
    pool.bytes_in_use += s->pool.bytes_in_use;
    pool.bytes_retained += s->pool.bytes_retained;
    pool.blocks_in_use += s->pool.blocks_in_use;
    pool.hits += s->pool.hits;
    pool.misses += s->pool.misses;
    pool.trims += s->pool.trims;
    ring.bytes_registered += s->ring.bytes_registered;
    ring.queued_pool_bytes += s->ring.queued_pool_bytes;
    ring.enobufs += s->ring.enobufs;
    ring.fallback_reads += s->ring.fallback_reads;
    ring.completions += s->ring.completions;
    ring.bytes_received += s->ring.bytes_received;
    ring.arms += s->ring.arms;
    ring.queue_cap_pauses += s->ring.queue_cap_pauses;
  }
  readbuf::StallWatchdog::Reading stall;
  if (watchdog != nullptr) stall = watchdog->TakeReading();
  const int64_t stall_max_us = absl::ToInt64Microseconds(stall.max_lateness);
  const int64_t stall_own_max_us = absl::ToInt64Microseconds(stall.max_own_lateness);
  const uint64_t stall_ticks = watchdog != nullptr ? watchdog->ticks() : 0;
  const std::string line = absl::StrCat(
      "seq=", seq, " cores=", rt.n_cores(),
      " connections=", std::max<int64_t>(0, g_connections.load()),
      " conn_owned_buffer_bytes=", std::max<int64_t>(0, g_conn_owned_buffer_bytes.load()),
      " pool_bytes_in_use=", pool.bytes_in_use, " pool_bytes_retained=", pool.bytes_retained,
      " pool_blocks_in_use=", pool.blocks_in_use, " pool_hits=", pool.hits,
      " pool_misses=", pool.misses, " pool_trims=", pool.trims,
      " ring_bytes_registered=", ring.bytes_registered,
      " ring_queued_pool_bytes=", ring.queued_pool_bytes, " ring_enobufs=", ring.enobufs,
      " ring_fallback_reads=", ring.fallback_reads, " ring_completions=", ring.completions,
      " ring_bytes_received=", ring.bytes_received, " ring_arms=", ring.arms,
      " ring_queue_cap_pauses=", ring.queue_cap_pauses, " rss_bytes=", readbuf::examples::ResidentBytes(),
      " stall_max_us=", stall_max_us, " stall_own_max_us=", stall_own_max_us,
      " stall_ticks=", stall_ticks, "\n");
  return readbuf::examples::ReplaceFileContents(path, line);
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
  std::string backend = absl::GetFlag(FLAGS_backend);
  const int buffer_size = absl::GetFlag(FLAGS_buffer_size);
  if (threads < 1 || threads > 256) return Usage("--threads must be in 1..256");
  if (port < 0 || port > 65535) return Usage("--port must be in 0..65535");
  if (buffer_size < 64) return Usage("--buffer_size must be at least 64");
  const absl::Duration stall_period = absl::GetFlag(FLAGS_stall_watchdog_period);
  if (stall_period != absl::ZeroDuration() &&
      (stall_period < readbuf::StallWatchdog::kMinPeriod ||
       stall_period == absl::InfiniteDuration())) {
    return Usage("--stall_watchdog_period must be 0 (off) or at least 100us");
  }
  if (policy != "zeroed" && policy != "uninit" && policy != "vectored" && policy != "dyn" &&
      policy != "pooled" && policy != "uring") {
    return Usage("unknown --policy=" + policy);
  }
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "coroutine" && api != "callback") return Usage("unknown --api=" + api);
  if (api == "callback" && policy != "pooled") {
    return Usage("--api=callback reads into pool blocks: use it with --policy=pooled");
  }
  if (backend.empty()) backend = policy == "uring" ? "uring" : "epoll";
  if (backend != "epoll" && backend != "uring") return Usage("unknown --backend=" + backend);
  if (policy == "uring" && backend != "uring") {
    return Usage("--policy=uring needs --backend=uring");
  }
  absl::StatusOr<readbuf::SocketAddress> addr =
      readbuf::SocketAddress::Parse(absl::GetFlag(FLAGS_host) + ":" + std::to_string(port));
  if (!addr.ok()) return Usage(std::string(addr.status().message()));
  readbuf::TlsContext tls;
  const std::string tls_cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string tls_key = absl::GetFlag(FLAGS_tls_key);
  if (tls_cert.empty() != tls_key.empty()) return Usage("--tls_cert and --tls_key go together");
  if (!tls_cert.empty()) {
    if (policy == "uring") return Usage("--tls_cert does not work with --policy=uring");
    if (api == "callback") return Usage("--tls_cert does not work with --api=callback");
    readbuf::TlsServerOptions tls_options;
    tls_options.certificate.chain_file = tls_cert;
    tls_options.certificate.key_file = tls_key;
    absl::StatusOr<readbuf::TlsContext> made = readbuf::TlsContext::Server(tls_options);
    if (!made.ok()) return Usage(std::string(made.status().message()));
    tls = *std::move(made);
  }

  // Many connections need many fds: raise the soft limit to the hard one.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  readbuf::ServerOptions options;
  options.address = *addr;
  options.runtime.n_cores = threads;
  options.runtime.pin_threads = absl::GetFlag(FLAGS_pin);
  options.runtime.backend =
      backend == "uring" ? readbuf::BackendKind::kUring : readbuf::BackendKind::kEpoll;
  options.runtime.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  // SIGUSR1: write the stats line; SIGUSR2: trim every core, then write it.
  options.extra_signals = {SIGUSR1, SIGUSR2};
  const std::string stats_file = absl::GetFlag(FLAGS_stats_file);
  uint64_t stats_seq = 0;
  std::unique_ptr<readbuf::StallWatchdog> watchdog;
  options.on_signal = [&](int signal_number, readbuf::Server& server) {
    if (stats_file.empty()) return;
    absl::Status written = WriteStatsFile(server.runtime(), stats_file,
                                          /*trim_first=*/signal_number == SIGUSR2, ++stats_seq,
                                          watchdog.get());
    if (!written.ok()) {
      std::fprintf(stderr, "echo_server: stats: %s\n", written.ToString().c_str());
    }
  };
  absl::StatusOr<std::unique_ptr<readbuf::Server>> server =
      api == "callback"
          ? readbuf::Server::Start(std::move(options), std::make_shared<CallbackEcho>())
          : readbuf::Server::Start(std::move(options),
                                   HandlerFor(policy, static_cast<size_t>(buffer_size), tls));
  if (!server.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  readbuf::Runtime& rt = (*server)->runtime();
  if (!rt.backend_note().empty()) {
    std::fprintf(stderr, "echo_server: %s\n", rt.backend_note().c_str());
  }
  if (stall_period > absl::ZeroDuration()) {
    absl::StatusOr<std::unique_ptr<readbuf::StallWatchdog>> started =
        readbuf::StallWatchdog::Start(rt, stall_period);
    if (!started.ok()) {
      std::fprintf(stderr, "echo_server: %s\n", started.status().ToString().c_str());
      return 1;
    }
    watchdog = *std::move(started);
  }

  std::printf("listening %u\n", (*server)->local_address().port());
  std::fflush(stdout);
  (*server)->Run();  // until SIGINT/SIGTERM; the listeners close
  watchdog.reset();   // before its cores go
  server->reset();    // connections get --shutdown_grace, then the cores stop
  return 0;
}
