// -----------------------------------------------------------------------------
// File: examples/http_server.cc
// -----------------------------------------------------------------------------
//
// An HTTP/1.1 server on readbuf: a BufferedReader (io/buffered_reader.h)
// over the read policy chosen on the command line frames the requests, a
// BufferedWriter (io/buffered_writer.h) coalesces the responses, and
// io/server.h runs it on every core. An example of the library, not a
// framework -- but correct where it answers:
//
//   * keep-alive and pipelining: responses in request order; the responses
//     to every request already buffered go out in one writev;
//   * Content-Length request bodies (up to --max_body), streamed: POST /echo
//     writes each piece as it arrives, so no buffer holds a whole body;
//   * 400 for a malformed request (examples/http/request.h), 431 when the
//     head exceeds 8 KiB -- whatever the connection read before: the buffer
//     grows for a large head even after small ones shrank it -- 413 for a
//     body over --max_body, 501 for Transfer-Encoding (chunked) bodies;
//   * "Connection: close" honoured, HTTP/1.0 closes unless keep-alive;
//   * an idle keep-alive connection is closed after --idle_timeout, a
//     request head must arrive within --header_timeout; a connection that
//     ends with an error response, or with "Connection: close", is closed
//     with graceful_close so the response reaches the client.
//
// Routes:
//   GET /          "Hello, world!\n" (the body the report's nginx answers)
//   GET /bytes/N   N bytes of 'x' (N <= 1 GiB), sent from one static block
//                  with writev, never copied
//   POST /echo     the request body
//   else           404
// HEAD is answered like GET without the body.
//
//   http_server --port=8080 --threads=2 --policy=pooled --backend=epoll
//
// --tls_cert=PEM --tls_key=PEM serve HTTPS (io/tls_stream.h, ALPN http/1.1)
// with the same loop: the BufferedReader reads through the TLS stream, an
// idle connection waits for readiness (or for plaintext the session already
// holds) with no read buffer, and a graceful close sends close_notify.
//
// Once ready it prints exactly one line, "listening <port>", and flushes it.
// SIGINT/SIGTERM stop it (listeners close, connections get
// --shutdown_grace). Bad flags print the usage and exit with status 2.
//
// Stats (--stats_file=PATH, for the report's http-idle rows): on SIGUSR1 it
// writes ONE line of space-separated `key=value` pairs (non-negative
// decimal integers) ending in '\n' to PATH.tmp and renames it to PATH, as
// examples/echo_server does (bench/harness/server_stats.h reads it). Keys:
//   seq                      1 for the first line, then 2, 3, ...
//   cores                    reactor cores summed over
//   connections              connections being served now
//   conn_owned_buffer_bytes  capacity the non-pool policies' read buffers
//                            hold while their connections wait (0 for pooled)
//   pool_bytes_in_use, pool_bytes_retained, pool_blocks_in_use, pool_hits,
//   pool_misses              every core's BufferPool::Stats(), summed
//   rss_bytes                the process's resident set size
// Without --stats_file, SIGUSR1 is ignored.

#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "examples/http/request.h"
#include "examples/stats_file.h"
#include "io/buffered_reader.h"
#include "io/buffered_writer.h"
#include "io/graceful_close.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/server.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"
#include "io/tls_stream.h"

ABSL_FLAG(int, port, 8080, "TCP port (0: any free port).");
ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on.");
ABSL_FLAG(int, threads, 1, "Reactor cores.");
ABSL_FLAG(std::string, policy, "pooled", "Read buffer policy: zeroed, uninit, vectored, dyn or pooled.");
ABSL_FLAG(std::string, backend, "epoll", "Event loop: epoll or uring.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(60),
          "Close a keep-alive connection idle this long.");
ABSL_FLAG(absl::Duration, header_timeout, absl::Seconds(10),
          "The most time a request head may take to arrive once it began.");
ABSL_FLAG(int64_t, max_body, 1 << 20, "Largest request body accepted (413 above).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "How long connections may run on after SIGINT/SIGTERM.");
ABSL_FLAG(std::string, tls_cert, "",
          "If set (with --tls_key): serve HTTPS with this PEM certificate chain "
          "(ALPN http/1.1).");
ABSL_FLAG(std::string, tls_key, "", "The PEM private key for --tls_cert.");
ABSL_FLAG(std::string, stats_file, "",
          "If set: on SIGUSR1 write one line of key=value connection/pool/RSS stats "
          "to this path (via PATH.tmp + rename).");

namespace {

constexpr char kUsage[] =
    "Usage: http_server [--port=P] [--host=ADDR] [--threads=T]\n"
    "                   [--policy=zeroed|uninit|vectored|dyn|pooled] [--backend=epoll|uring]\n"
    "                   [--idle_timeout=D] [--header_timeout=D] [--max_body=N]\n"
    "                   [--tls_cert=PEM --tls_key=PEM] [--stats_file=PATH]\n"
    "Prints 'listening <port>' when ready; SIGINT/SIGTERM stop it.\n"
    "With --stats_file, SIGUSR1 writes one line of key=value stats to PATH.";

constexpr size_t kMaxHead = 8 * 1024;
constexpr std::string_view kHello = "Hello, world!\n";

struct Config {
  absl::Duration idle_timeout;
  absl::Duration header_timeout;
  uint64_t max_body;
};

// Connections being served, and the read-buffer capacity non-pool policies
// hold while their connections wait (both for --stats_file).
std::atomic<int64_t> g_connections{0};
std::atomic<int64_t> g_conn_owned_buffer_bytes{0};

// Counts one connection and the capacity its own (non-pool) buffer holds.
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

// "Date: <IMF-fixdate>\r\n", formatted once per second per thread.
std::string_view DateField() {
  thread_local int64_t second = -1;
  thread_local std::string field;
  const absl::Time now = absl::Now();
  const int64_t s = absl::ToUnixSeconds(now);
  if (s != second) {
    second = s;
    field = absl::StrCat("Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now,
                                                     absl::UTCTimeZone()),
                         "\r\n");
  }
  return field;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

// The status line and header fields of a response with a body of `length`.
std::string Head(int status, uint64_t length, bool keep_alive, int minor_version) {
  std::string h = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nServer: readbuf\r\n");
  h.append(DateField());
  absl::StrAppend(&h, "Content-Type: text/plain\r\nContent-Length: ", length, "\r\n");
  if (!keep_alive) {
    h += "Connection: close\r\n";
  } else if (minor_version == 0) {
    h += "Connection: keep-alive\r\n";
  }
  h += "\r\n";
  return h;
}

std::string_view AsText(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A block of 'x' that GET /bytes/N sends from, as many times as needed.
std::span<const std::byte> Filler() {
  static const std::vector<std::byte> block(256 * 1024, std::byte{'x'});
  return block;
}

template <class W, class S>
readbuf::Task<absl::Status> SendBytes(W& out, S& conn, uint64_t n) {
  if (absl::Status s = co_await out.flush(); !s.ok()) co_return s;
  std::span<const std::byte> filler = Filler();
  std::vector<iovec> iov;
  while (n != 0) {
    const size_t step = static_cast<size_t>(std::min<uint64_t>(n, filler.size()));
    iov.push_back(iovec{const_cast<std::byte*>(filler.data()), step});
    n -= step;
    if (iov.size() == 64 || n == 0) {
      if (absl::Status s = co_await conn.writev_all(iov); !s.ok()) co_return s;
      iov.clear();
    }
  }
  co_return absl::OkStatus();
}

// Writes `text` through the buffer: without I/O when it fits.
template <class W>
readbuf::Task<absl::Status> Put(W& out, std::string_view text) {
  if (out.try_write(text)) co_return absl::OkStatus();
  co_return co_await out.write(text);
}

// What the connection does after a request (ServeRequest's result).
enum class Next {
  kContinue,  // keep-alive: wait for the next request
  kClose,     // the client is gone (EOF, header timeout): flush and close
  kGraceful,  // an answer that ends the connection: flush, graceful_close
  kAbort,     // a write or read failed: close at once
};

// S is the connection: TcpStream, or TlsStream<TcpStream> with --tls_cert.
template <class S, class Policy>
using Reader = readbuf::BufferedReader<S*, Policy>;
template <class S>
using Writer = readbuf::BufferedWriter<S>;
using TlsConnection = readbuf::TlsStream<readbuf::TcpStream>;

// Waits until a read on `conn` would make progress, for at most `limit`.
// Plain TCP: the readiness awaiter itself, with no frame of its own (an idle
// connection's memory is the point). TLS: not at all when the session already
// holds decrypted bytes, which no socket edge would announce.
auto IdleWait(readbuf::TcpStream& conn, absl::Duration limit) {
  return readbuf::timeout(conn.ready(), limit);
}
readbuf::Task<absl::Status> IdleWait(TlsConnection& conn, absl::Duration limit) {
  if (conn.has_buffered()) co_return absl::OkStatus();
  co_return co_await readbuf::timeout(conn.next_layer().ready(), limit);
}

// Reads the rest of one request head (if it is not buffered yet) and answers
// it. A coroutine of its own, so its frame -- the head, the parsed request,
// the response being written -- exists only while a request is served; an
// idle connection keeps only Serve's frame.
template <class S, class Policy>
readbuf::Task<Next> ServeRequest(Reader<S, Policy>& in, Writer<S>& out, S& conn,
                                 const Config& config) {
  // The head: from what is buffered, or read within header_timeout.
  const readbuf::BootClock::time_point deadline =
      readbuf::BootClock::now() + absl::ToChronoNanoseconds(config.header_timeout);
  std::span<const std::byte> head;
  size_t searched = 0;
  for (;;) {
    head = in.core().buffered_until("\r\n\r\n", kMaxHead, searched);
    if (!head.empty()) break;
    if (in.buffered_size() >= kMaxHead) {
      (void)co_await Put(out, Head(431, 0, false, 1));
      co_return Next::kGraceful;
    }
    // Everything answered so far goes out before we wait.
    if (out.buffered() != 0) {
      absl::Status flushed = co_await out.flush();
      if (!flushed.ok()) co_return Next::kAbort;
    }
    absl::StatusOr<size_t> n = co_await readbuf::timeout_at(in.fill(), deadline);
    if (!n.ok() || *n == 0) co_return Next::kClose;  // timeout, EOF, error: nothing to answer
  }

  absl::StatusOr<readbuf::http::RequestHead> req = readbuf::http::ParseRequestHead(AsText(head));
  if (!req.ok()) {
    (void)co_await Put(out, Head(readbuf::http::StatusFor(req.status()), 0, false, 1));
    co_return Next::kGraceful;
  }
  const bool head_only = req->method == "HEAD";
  const bool keep_alive = req->keep_alive;
  const int minor = req->minor_version;
  const uint64_t body_length = req->content_length;
  // Decide the route while the head's bytes are still valid.
  enum class Route { kHello, kBytes, kEcho, kNotFound } route = Route::kNotFound;
  uint64_t bytes = 0;
  if ((req->method == "GET" || head_only) && req->target == "/") {
    route = Route::kHello;
  } else if ((req->method == "GET" || head_only) && req->target.starts_with("/bytes/") &&
             absl::SimpleAtoi(absl::string_view(req->target.data() + 7, req->target.size() - 7), &bytes) && bytes <= (1ull << 30)) {
    route = Route::kBytes;
  } else if (req->method == "POST" && req->target == "/echo") {
    route = Route::kEcho;
  }
  in.consume(head.size());
  if (body_length > config.max_body) {
    (void)co_await Put(out, Head(413, 0, false, minor));
    co_return Next::kGraceful;
  }
  absl::Status written;
  switch (route) {
    case Route::kHello: {
      // Head and body in one piece: no I/O when it fits the buffer.
      std::string response = Head(200, kHello.size(), keep_alive, minor);
      if (!head_only) response.append(kHello);
      if (!out.try_write(response)) written = co_await out.write(response);
      break;
    }
    case Route::kBytes:
      written = co_await Put(out, Head(200, bytes, keep_alive, minor));
      if (written.ok() && !head_only) written = co_await SendBytes(out, conn, bytes);
      break;
    case Route::kEcho:
      // Streamed: each piece of the body is written as it arrives, so a
      // body needs no buffer of its size.
      written = co_await Put(out, Head(200, body_length, keep_alive, minor));
      for (uint64_t left = body_length; written.ok() && left != 0;) {
        if (in.buffered_size() == 0) {
          if (out.buffered() != 0) {
            written = co_await out.flush();
            if (!written.ok()) break;
          }
          absl::StatusOr<size_t> n = co_await readbuf::timeout(in.fill(), config.header_timeout);
          if (!n.ok() || *n == 0) co_return Next::kAbort;  // the client went away mid-body
        }
        const size_t piece = static_cast<size_t>(std::min<uint64_t>(left, in.buffered_size()));
        written = co_await Put(out, AsText(in.buffer().first(piece)));
        in.consume(piece);
        left -= piece;
      }
      break;
    case Route::kNotFound:
      written = co_await Put(out, Head(404, 0, keep_alive, minor));
      break;
  }
  if (route != Route::kEcho && body_length != 0) {
    // A body nobody reads is skipped, as it arrives.
    for (uint64_t left = body_length; left != 0;) {
      if (in.buffered_size() == 0) {
        absl::StatusOr<size_t> n = co_await readbuf::timeout(in.fill(), config.header_timeout);
        if (!n.ok() || *n == 0) co_return Next::kAbort;
      }
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(left, in.buffered_size()));
      in.consume(piece);
      left -= piece;
    }
  }
  if (!written.ok()) co_return Next::kAbort;
  co_return keep_alive ? Next::kContinue : Next::kGraceful;
}

// Fixed policies hold 16 KiB per connection: a head and pipelined requests;
// Pooled sizes itself (and holds nothing while a connection is idle).
template <class Policy>
Policy NewPolicy() {
  if constexpr (std::is_same_v<Policy, readbuf::Pooled>) {
    return Policy();
  } else {
    return Policy(16 * 1024);
  }
}

// Answers one connection until it closes, errs, idles out or ends with an
// error response. Between requests only this frame and a readiness wait
// exist, for at most idle_timeout: the policy gives its memory back first
// (under Pooled no read buffer is held), as fill() does before it waits.
template <class S, class Policy>
readbuf::Task<void> Serve(S conn, Config config) {
  if constexpr (std::is_same_v<S, TlsConnection>) {
    // The handshake first, in this frame (no second frame per connection).
    absl::Status handshake = co_await readbuf::timeout(conn.handshake(), config.header_timeout);
    if (!handshake.ok()) co_return;
  }
  readbuf::BufferedOptions options;
  options.max_buffered = 64 * 1024;  // a head (8 KiB) and some pipelined requests
  Reader<S, Policy> in(&conn, NewPolicy<Policy>(), options);
  Writer<S> out(conn);
  ConnectionAccount account;
  Next next = Next::kContinue;
  while (next == Next::kContinue) {
    if (in.buffered_size() == 0) {
      // Everything answered so far goes out before we wait.
      if (out.buffered() != 0) {
        absl::Status flushed = co_await out.flush();
        if (!flushed.ok()) co_return;
      }
      // Nothing is buffered: start the buffer over and let the policy give
      // its memory back (Pooled does; the others keep theirs, counted for
      // --stats_file), then wait for the next request.
      (void)in.core().make_room(1, "idle wait");
      readbuf::read_buf_traits<Policy>::release_idle(in.core().policy());
      if constexpr (!std::is_same_v<Policy, readbuf::Pooled>) {
        account.SetHeldBytes(in.core().policy().capacity());
      }
      absl::Status ready = co_await IdleWait(conn, config.idle_timeout);
      if (!ready.ok()) {  // idle timeout (close gracefully) or an error
        next = absl::IsDeadlineExceeded(ready) ? Next::kGraceful : Next::kAbort;
        break;
      }
    }
    next = co_await ServeRequest<S, Policy>(in, out, conn, config);
  }
  if (next == Next::kAbort) co_return;
  if (out.buffered() != 0) {
    absl::Status flushed = co_await out.flush();
    if (!flushed.ok()) co_return;
  }
  if (next == Next::kGraceful) (void)co_await readbuf::graceful_close(conn, absl::Seconds(2));
}

readbuf::Task<void> Nothing() { co_return; }

// With --tls_cert the connection is wrapped at once (no I/O yet) and Serve
// starts with the handshake, within header_timeout.
template <class Policy>
readbuf::ConnectionHandler HandlerFor(Config config, const readbuf::TlsContext& tls) {
  if (tls.valid()) {
    return [config, tls](readbuf::TcpStream conn) -> readbuf::Task<void> {
      (void)conn.set_nodelay(true);
      absl::StatusOr<TlsConnection> wrapped = TlsConnection::Server(std::move(conn), tls);
      if (!wrapped.ok()) return Nothing();  // the TLS library's allocation failed: drop it
      return Serve<TlsConnection, Policy>(*std::move(wrapped), config);
    };
  }
  return [config](readbuf::TcpStream conn) {
    (void)conn.set_nodelay(true);
    return Serve<readbuf::TcpStream, Policy>(std::move(conn), config);
  };
}

readbuf::Task<readbuf::BufferPoolStats> CorePoolStats() {
  co_return readbuf::BufferPool::ForThisThread().Stats();
}

// Sums every core's pool stats and writes the stats line to `path` via
// `path`.tmp + rename.
absl::Status WriteStatsFile(readbuf::Runtime& rt, const std::string& path, uint64_t seq) {
  readbuf::BufferPoolStats pool;
  for (int core = 0; core < rt.n_cores(); ++core) {
    absl::StatusOr<readbuf::BufferPoolStats> s = rt.spawn_on(core, CorePoolStats()).BlockingJoin();
    if (!s.ok()) return s.status();
    pool.bytes_in_use += s->bytes_in_use;
    pool.bytes_retained += s->bytes_retained;
    pool.blocks_in_use += s->blocks_in_use;
    pool.hits += s->hits;
    pool.misses += s->misses;
  }
  const std::string line = absl::StrCat(
      "seq=", seq, " cores=", rt.n_cores(),
      " connections=", std::max<int64_t>(0, g_connections.load()),
      " conn_owned_buffer_bytes=", std::max<int64_t>(0, g_conn_owned_buffer_bytes.load()),
      " pool_bytes_in_use=", pool.bytes_in_use, " pool_bytes_retained=", pool.bytes_retained,
      " pool_blocks_in_use=", pool.blocks_in_use, " pool_hits=", pool.hits,
      " pool_misses=", pool.misses, " rss_bytes=", readbuf::examples::ResidentBytes(), "\n");
  return readbuf::examples::ReplaceFileContents(path, line);
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "http_server: %s\n%s\n", problem.c_str(), kUsage);
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
  if (threads < 1 || threads > 256) return Usage("--threads must be in 1..256");
  if (port < 0 || port > 65535) return Usage("--port must be in 0..65535");
  if (backend != "epoll" && backend != "uring") return Usage("unknown --backend=" + backend);
  Config config{absl::GetFlag(FLAGS_idle_timeout), absl::GetFlag(FLAGS_header_timeout),
                static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_max_body)))};
  if (config.idle_timeout <= absl::ZeroDuration() || config.header_timeout <= absl::ZeroDuration()) {
    return Usage("--idle_timeout and --header_timeout must be positive");
  }
  absl::StatusOr<readbuf::SocketAddress> addr =
      readbuf::SocketAddress::Parse(absl::GetFlag(FLAGS_host) + ":" + std::to_string(port));
  if (!addr.ok()) return Usage(std::string(addr.status().message()));

  readbuf::TlsContext tls;
  const std::string tls_cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string tls_key = absl::GetFlag(FLAGS_tls_key);
  if (tls_cert.empty() != tls_key.empty()) return Usage("--tls_cert and --tls_key go together");
  if (!tls_cert.empty()) {
    readbuf::TlsServerOptions tls_options;
    tls_options.certificate.chain_file = tls_cert;
    tls_options.certificate.key_file = tls_key;
    tls_options.alpn = {"http/1.1"};
    absl::StatusOr<readbuf::TlsContext> made = readbuf::TlsContext::Server(tls_options);
    if (!made.ok()) return Usage(std::string(made.status().message()));
    tls = *std::move(made);
  }

  readbuf::ConnectionHandler handler;
  if (policy == "zeroed") {
    handler = HandlerFor<readbuf::Zeroed>(config, tls);
  } else if (policy == "uninit") {
    handler = HandlerFor<readbuf::Uninit>(config, tls);
  } else if (policy == "vectored") {
    handler = HandlerFor<readbuf::Vectored<4>>(config, tls);
  } else if (policy == "dyn") {
    handler = HandlerFor<readbuf::Dyn>(config, tls);
  } else if (policy == "pooled") {
    handler = HandlerFor<readbuf::Pooled>(config, tls);
  } else {
    return Usage("unknown --policy=" + policy);
  }

  readbuf::ServerOptions options;
  options.address = *addr;
  options.runtime.n_cores = threads;
  options.runtime.backend =
      backend == "uring" ? readbuf::BackendKind::kUring : readbuf::BackendKind::kEpoll;
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  // SIGUSR1: write the stats line.
  options.extra_signals = {SIGUSR1};
  const std::string stats_file = absl::GetFlag(FLAGS_stats_file);
  uint64_t stats_seq = 0;
  options.on_signal = [&](int, readbuf::Server& server) {
    if (stats_file.empty()) return;
    absl::Status written = WriteStatsFile(server.runtime(), stats_file, ++stats_seq);
    if (!written.ok()) {
      std::fprintf(stderr, "http_server: stats: %s\n", written.ToString().c_str());
    }
  };
  absl::StatusOr<std::unique_ptr<readbuf::Server>> server =
      readbuf::Server::Start(std::move(options), std::move(handler));
  if (!server.ok()) {
    std::fprintf(stderr, "http_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("listening %u\n", (*server)->local_address().port());
  std::fflush(stdout);
  (*server)->Run();
  return 0;
}
