// -----------------------------------------------------------------------------
// File: bench/peers/libuv_echo_server.cc
// -----------------------------------------------------------------------------
//
// The libuv echo server readbuf's benchmarks compare against, written the way
// libuv's own examples do: uv_read_start() with an alloc_cb that mallocs the
// suggested size only when the socket is readable, a uv_write() of what was
// read, and free() in the write callback. One loop on one thread (the
// benchmarks pin the server to one core). Prints "listening <port>" once
// ready and exits cleanly on SIGINT/SIGTERM. Benchmark-only.

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0 = pick one).");

namespace {

struct WriteRequest {
  uv_write_t req;
  uv_buf_t buf;
};

void OnClose(uv_handle_t* handle) { std::free(handle); }

void OnAlloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = static_cast<char*>(std::malloc(suggested));
  buf->len = buf->base != nullptr ? suggested : 0;
}

void OnWrite(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteRequest*>(req);
  uv_handle_t* client = reinterpret_cast<uv_handle_t*>(req->handle);
  std::free(w->buf.base);
  std::free(w);
  if (status < 0 && status != UV_ECANCELED && !uv_is_closing(client)) {
    uv_close(client, OnClose);
  }
}

void OnRead(uv_stream_t* client, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    auto* w = static_cast<WriteRequest*>(std::malloc(sizeof(WriteRequest)));
    w->buf = uv_buf_init(buf->base, static_cast<unsigned>(nread));
    uv_write(&w->req, client, &w->buf, 1, OnWrite);
    return;
  }
  std::free(buf->base);
  if (nread < 0 && !uv_is_closing(reinterpret_cast<uv_handle_t*>(client))) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), OnClose);
  }
}

void OnConnection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* client = static_cast<uv_tcp_t*>(std::malloc(sizeof(uv_tcp_t)));
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), OnClose);
    return;
  }
  uv_tcp_nodelay(client, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(client), OnAlloc, OnRead);
}

void OnSignal(uv_signal_t* handle, int) { uv_stop(handle->loop); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "libuv echo server (benchmark peer).\nUsage: libuv_echo_server [--port=P]");
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "libuv_echo_server: --port must be in 0..65535\n");
    return 2;
  }
  // A peer that closes while a write is pending must not kill the server
  // (libuv, unlike Asio, does not use MSG_NOSIGNAL).
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (int rc = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0);
      rc != 0) {
    std::fprintf(stderr, "libuv_echo_server: bind: %s\n", uv_strerror(rc));
    return 1;
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, OnConnection);
      rc != 0) {
    std::fprintf(stderr, "libuv_echo_server: listen: %s\n", uv_strerror(rc));
    return 1;
  }
  sockaddr_storage bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len);
  uv_signal_t sigint, sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, OnSignal, SIGINT);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, OnSignal, SIGTERM);
  std::printf("listening %d\n", ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
  std::fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
