// -----------------------------------------------------------------------------
// File: io/tls_context.h
// -----------------------------------------------------------------------------
//
// TlsContext: the shared, immutable TLS configuration that TlsStream
// (io/tls_stream.h) sessions are made from -- certificates and keys (one
// default certificate plus optional ones chosen by SNI) for a server; the
// trusted CAs and whether to verify for a client; ALPN protocols and the
// lowest TLS version for both. Make one per configuration at startup and
// share it across cores: it is a reference-counted handle.
//
// Every context sets SSL_MODE_RELEASE_BUFFERS, so an idle session gives its
// record buffers back (see TlsStream), and partial writes, so a write that
// must wait for the socket keeps no more than one record in flight.
//
// The TLS library is whatever `@boringssl` names: Debian's OpenSSL 3 by
// default (deps.bzl), or a monorepo's BoringSSL. Only functions both provide
// are called.
//
// Example:
//
//   readbuf::TlsServerOptions server;
//   server.certificate = {.chain_file = "cert.pem", .key_file = "key.pem"};
//   server.alpn = {"h2", "http/1.1"};
//   absl::StatusOr<readbuf::TlsContext> ctx = readbuf::TlsContext::Server(server);
//
//   readbuf::TlsClientOptions client;
//   client.ca_file = "ca.pem";          // empty: the system's default CAs
//   absl::StatusOr<readbuf::TlsContext> cctx = readbuf::TlsContext::Client(client);
//
// Thread safety: a TlsContext may be copied, used and destroyed on any
// thread; sessions made from it keep what they need alive.

#ifndef READBUF_IO_TLS_CONTEXT_H_
#define READBUF_IO_TLS_CONTEXT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

// From <openssl/ssl.h>; declared here so users need not include it.
typedef struct ssl_ctx_st SSL_CTX;

namespace readbuf {

// A certificate chain and its private key, from PEM files or PEM text.
// Exactly one of chain_file / chain_pem, and one of key_file / key_pem.
struct TlsCertificate {
  std::string chain_file;  // leaf first, then intermediates
  std::string key_file;
  std::string chain_pem;
  std::string key_pem;
  // SNI names this certificate serves (exact, case-insensitive, or
  // "*.example.com" for one label). Used for TlsServerOptions::sni only.
  std::vector<std::string> server_names;
};

enum class TlsVersion {
  kTls12,
  kTls13,
};

struct TlsServerOptions {
  // The certificate served when the client sends no SNI name, or one that
  // no entry of `sni` lists. REQUIRES: set.
  TlsCertificate certificate;
  // Further certificates, chosen by the client's SNI name. Default: none.
  std::vector<TlsCertificate> sni;
  // ALPN protocols the server speaks, in its order of preference ("h2",
  // "http/1.1"). The first of these the client also offers is selected.
  // Default: none (ALPN is not negotiated).
  std::vector<std::string> alpn;
  // With `alpn` set: fail the handshake (no_application_protocol alert) when
  // the client offers ALPN but none of ours. Default: false (continue
  // without ALPN, as RFC 7301 allows).
  bool alpn_required = false;
  // Default: TLS 1.2.
  TlsVersion min_version = TlsVersion::kTls12;
};

struct TlsClientOptions {
  // Trusted CA certificates (PEM). Both empty: the system's default store.
  std::string ca_file;
  std::string ca_pem;
  // Verify the server's chain and its name (the server_name given to the
  // stream; a DNS name or an IP literal). Default: true. Turning it off
  // makes the connection open to interception; for tests and benchmarks.
  bool verify_peer = true;
  // ALPN protocols to offer, in preference order. Default: none.
  std::vector<std::string> alpn;
  // Default: TLS 1.2.
  TlsVersion min_version = TlsVersion::kTls12;
};

// TlsContext
//
// A handle to an SSL_CTX (plus the SNI contexts of a server). Copies share
// it. A default-constructed TlsContext is empty (valid() is false).
class TlsContext {
 public:
  TlsContext() = default;

  // Loads the certificates and keys, checks each key against its
  // certificate, and sets up SNI and ALPN.
  // Errors: InvalidArgument naming the file or field and the TLS library's
  // reason (a missing file, a PEM that does not parse, a key that does not
  // match its certificate, a bad ALPN name).
  static absl::StatusOr<TlsContext> Server(const TlsServerOptions& options);

  // Loads the trusted CAs (or the system's) and sets up ALPN.
  // Errors: InvalidArgument as above.
  static absl::StatusOr<TlsContext> Client(const TlsClientOptions& options);

  bool valid() const { return impl_ != nullptr; }
  bool is_server() const;

  // The default SSL_CTX, for settings this class does not offer.
  // REQUIRES: valid(). Changing it after sessions exist is not thread-safe.
  SSL_CTX* native_handle() const;

  struct Impl;  // io/tls_context.cc

  // For io/tls_stream.cc: keeps the contexts (and SNI callback state) alive
  // while a session made from them lives.
  const std::shared_ptr<const Impl>& impl() const { return impl_; }

 private:
  explicit TlsContext(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace readbuf

#endif  // READBUF_IO_TLS_CONTEXT_H_
