// DrainTlsErrors: the TLS library's thread-local error queue as one line of
// text, for the harness's error messages (SSL_new, handshakes, writes).
// Thread safety: reads and clears the calling thread's queue only.

#ifndef READBUF_BENCH_HARNESS_TLS_ERRORS_H_
#define READBUF_BENCH_HARNESS_TLS_ERRORS_H_

#include <string>

namespace readbuf::bench {

// Every queued error, oldest first, joined with "; ", and the queue emptied.
// "no error queued" when there is none (a failure reported only through the
// return value, e.g. the peer closed).
std::string DrainTlsErrors();

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_TLS_ERRORS_H_
