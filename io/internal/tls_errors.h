// -----------------------------------------------------------------------------
// File: io/internal/tls_errors.h
// -----------------------------------------------------------------------------
//
// The TLS library's per-thread error queue as text, for the statuses that
// io/tls_context.cc and io/tls_stream.cc return: each queued error's
// ERR_error_string_n() text, oldest first, joined with "; ". Uses only
// functions OpenSSL 3 and BoringSSL both provide.

#ifndef READBUF_IO_INTERNAL_TLS_ERRORS_H_
#define READBUF_IO_INTERNAL_TLS_ERRORS_H_

#include <string>

namespace readbuf {
namespace io_internal {

// Empties the calling thread's TLS error queue and returns what it held
// ("" when it was empty).
std::string DrainTlsErrors();

// Clears the calling thread's TLS error queue, so the next call's errors
// are its own. Call before every SSL_* operation whose errors are read.
void ClearTlsErrors();

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_TLS_ERRORS_H_
