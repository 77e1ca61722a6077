// -----------------------------------------------------------------------------
// File: bench/peers/asio_echo_server.cc
// -----------------------------------------------------------------------------
//
// The standalone-Asio echo server readbuf's benchmarks compare against, in the
// two patterns Asio users write:
//
//   --mode=eager     every connection owns an 8 KiB buffer and keeps an
//                    async_read_some pending on it (the usual pattern)
//   --mode=deferred  every connection waits with async_wait(wait_read) and
//                    only then reads into a per-thread 64 KiB scratch buffer;
//                    a short write copies the rest into a per-connection
//                    vector until it is sent
//
// One io_context per thread (--threads); the acceptor runs on the first and
// hands sockets out round-robin. Prints "listening <port>" once ready and
// exits cleanly on SIGINT/SIGTERM. Benchmark-only: not part of readbuf.

#include <array>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "asio.hpp"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0 = pick one).");
ABSL_FLAG(int, threads, 1, "Threads, one io_context each.");
ABSL_FLAG(std::string, mode, "eager", "eager or deferred.");

namespace {

using asio::ip::tcp;

class EagerSession : public std::enable_shared_from_this<EagerSession> {
 public:
  explicit EagerSession(tcp::socket socket) : socket_(std::move(socket)) {}
  void Start() { Read(); }

 private:
  void Read() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const asio::error_code& ec, size_t n) {
          if (ec) return;
          asio::async_write(self->socket_, asio::buffer(self->buffer_, n),
                            [self](const asio::error_code& ec, size_t) {
                              if (!ec) self->Read();
                            });
        });
  }

  tcp::socket socket_;
  std::array<char, 8192> buffer_;
};

class DeferredSession : public std::enable_shared_from_this<DeferredSession> {
 public:
  explicit DeferredSession(tcp::socket socket) : socket_(std::move(socket)) {
    socket_.non_blocking(true);
  }
  void Start() { Wait(); }

 private:
  void Wait() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const asio::error_code& ec) {
                         if (!ec) self->OnReadable();
                       });
  }

  void OnReadable() {
    thread_local std::array<char, 64 * 1024> scratch;
    for (;;) {
      asio::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(scratch), ec);
      if (ec == asio::error::would_block) return Wait();
      if (ec) return;  // EOF or error: the session ends
      size_t written = socket_.write_some(asio::buffer(scratch.data(), n), ec);
      if (ec == asio::error::would_block) {
        written = 0;
      } else if (ec) {
        return;
      }
      if (written < n) {
        pending_.assign(scratch.data() + written, scratch.data() + n);
        asio::async_write(socket_, asio::buffer(pending_),
                          [self = shared_from_this()](const asio::error_code& ec,
                                                      size_t) {
                            std::vector<char>().swap(self->pending_);
                            if (!ec) self->Wait();
                          });
        return;
      }
      if (n < scratch.size()) return Wait();  // drained
    }
  }

  tcp::socket socket_;
  std::vector<char> pending_;
};

class Server {
 public:
  Server(std::vector<std::unique_ptr<asio::io_context>>& contexts, bool eager,
         int port)
      : contexts_(contexts),
        eager_(eager),
        acceptor_(*contexts[0],
                  tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                static_cast<unsigned short>(port))) {
    Accept();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void Stop() { acceptor_.close(); }

 private:
  void Accept() {
    asio::io_context& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target, [this](const asio::error_code& ec,
                                          tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        if (eager_) {
          std::make_shared<EagerSession>(std::move(socket))->Start();
        } else {
          std::make_shared<DeferredSession>(std::move(socket))->Start();
        }
      }
      Accept();
    });
  }

  std::vector<std::unique_ptr<asio::io_context>>& contexts_;
  bool eager_;
  tcp::acceptor acceptor_;
  size_t next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Asio echo server (benchmark peer).\n"
      "Usage: asio_echo_server [--port=P] [--threads=T] [--mode=eager|deferred]");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const int threads = absl::GetFlag(FLAGS_threads);
  if ((mode != "eager" && mode != "deferred") || threads < 1 ||
      absl::GetFlag(FLAGS_port) < 0 || absl::GetFlag(FLAGS_port) > 65535) {
    std::fprintf(stderr,
                 "asio_echo_server: need --mode=eager|deferred, --threads>=1, "
                 "--port in 0..65535\n");
    return 2;
  }
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
  }
  Server server(contexts, mode == "eager", absl::GetFlag(FLAGS_port));
  asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code&, int) {
    server.Stop();
    for (auto& c : contexts) c->stop();
  });
  std::printf("listening %u\n", server.port());
  std::fflush(stdout);
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) {
    workers.emplace_back([&contexts, i] {
      auto guard = asio::make_work_guard(*contexts[i]);
      contexts[i]->run();
    });
  }
  contexts[0]->run();
  for (auto& c : contexts) c->stop();
  for (auto& t : workers) t.join();
  return 0;
}
