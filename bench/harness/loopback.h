// Loopback TCP for the harness's clients: a blocking or non-blocking
// connection to 127.0.0.1:port with Nagle off, and a free port to start a
// server on.
// Thread safety: stateless; callable from any thread.

#ifndef READBUF_BENCH_HARNESS_LOOPBACK_H_
#define READBUF_BENCH_HARNESS_LOOPBACK_H_

#include "absl/status/statusor.h"

namespace readbuf::bench {

// A connected socket to 127.0.0.1:port with TCP_NODELAY set, O_NONBLOCK when
// `nonblocking` (the connect itself always completes first). The caller owns
// the fd. Errors name the call and the address; EMFILE says the open-file
// limit is reached.
absl::StatusOr<int> ConnectLoopback(int port, bool nonblocking = false);

// A port nobody listens on now: the kernel's pick for an ephemeral bind on
// 127.0.0.1, released again (another process may take it in between).
absl::StatusOr<int> FreeLoopbackPort();

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_LOOPBACK_H_
