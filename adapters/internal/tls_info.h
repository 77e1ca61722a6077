// -----------------------------------------------------------------------------
// File: adapters/internal/tls_info.h
// -----------------------------------------------------------------------------
//
// The README table's constants for TlsStream (io/tls_stream.h), kept apart
// from the TLS library so the table generator lists the bridge without
// depending on libssl: only the io:tls_* targets may.

#ifndef READBUF_ADAPTERS_INTERNAL_TLS_INFO_H_
#define READBUF_ADAPTERS_INTERNAL_TLS_INFO_H_

#include <string_view>

namespace readbuf::adapters_internal {

struct TlsStreamInfo {
  static constexpr std::string_view kName = "TlsStream";
  static constexpr std::string_view kHeader = "io/tls_stream.h";
  static constexpr std::string_view kFrom =
      "TLS records on a `TcpStream`, `UnixStream` or any stream with `async_fd()`";
  static constexpr std::string_view kTo =
      "plaintext: `read_into` for every policy, `write_all`, `writev`";
  // Plaintext is written once, by decryption, into the policy's memory.
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "waits for readiness before it takes the policy's memory, then "
      "`SSL_read` decrypts straight into it; ciphertext passes through the "
      "TLS library's record buffers, released while idle "
      "(`SSL_MODE_RELEASE_BUFFERS`)";
};

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_TLS_INFO_H_
