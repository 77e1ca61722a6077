// -----------------------------------------------------------------------------
// File: tests/adapters/tcp_drain.h
// -----------------------------------------------------------------------------
//
// Shared by the async owned-reader tests (async_ready_to_owned,
// async_scratch_copy_reader):
//
// DrainOwned: co_awaits reader.read_owned(max) until EOF or an error and
// returns the bytes, the size of each chunk, and the error (if any).
//
// DrainOverTcp: the real-socket check.
// It sends `data` over a fresh loopback TCP connection (then shuts the write
// side), wraps the accepted end in an adapter made by `make_reader(&server)`,
// and co_awaits its read_owned(max) until EOF. OK when every byte arrived
// once and in order; else the first error, or DataLoss.
// REQUIRES: runs on a reactor core (inside Runtime::block_on).

#ifndef READBUF_TESTS_ADAPTERS_TCP_DRAIN_H_
#define READBUF_TESTS_ADAPTERS_TCP_DRAIN_H_

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/pool_bytes.h"
#include "io/address.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf::testing {

struct Drained {
  std::string bytes;
  std::vector<size_t> sizes;
  absl::Status status;
};

template <class Reader>
Task<Drained> DrainOwned(Reader& reader, size_t max) {
  Drained out;
  for (;;) {
    absl::StatusOr<std::optional<PoolBytes>> next = co_await reader.read_owned(max);
    if (!next.ok()) {
      out.status = next.status();
      co_return out;
    }
    if (!next->has_value()) co_return out;
    out.bytes.append(reinterpret_cast<const char*>((*next)->data()), (*next)->size());
    out.sizes.push_back((*next)->size());
  }
}

template <class MakeReader>
Task<absl::Status> DrainOverTcp(const std::string& data, size_t max,
                                MakeReader make_reader) {
  absl::StatusOr<TcpListener> listener =
      TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
  if (!listener.ok()) co_return listener.status();
  absl::StatusOr<TcpStream> client = co_await TcpStream::connect(*listener->local_addr());
  if (!client.ok()) co_return client.status();
  absl::StatusOr<TcpStream> server = co_await listener->accept();
  if (!server.ok()) co_return server.status();
  JoinHandle<absl::Status> writer =
      spawn([](TcpStream* c, const std::string* d) -> Task<absl::Status> {
        if (absl::Status w = co_await c->write_all(std::as_bytes(std::span(*d)));
            !w.ok()) {
          co_return w;
        }
        co_return c->shutdown(SHUT_WR);
      }(&*client, &data));
  auto reader = make_reader(&*server);
  Drained got = co_await DrainOwned(reader, max);
  if (!got.status.ok()) co_return got.status;
  if (absl::Status w = co_await writer; !w.ok()) co_return w;
  co_return got.bytes == data ? absl::OkStatus() : absl::DataLossError("bytes differ");
}

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_ADAPTERS_TCP_DRAIN_H_
