// -----------------------------------------------------------------------------
// File: io/tls_context.cc
// -----------------------------------------------------------------------------
//
// TlsContext (io/tls_context.h): builds the SSL_CTXs. Only functions that
// OpenSSL 3 and BoringSSL both provide are used (no SSL_CTX_set1_groups_list,
// no OSSL_* providers, no SSL_OP_IGNORE_UNEXPECTED_EOF).

#include "io/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "io/internal/tls_errors.h"

namespace readbuf {

namespace io_internal {

std::string DrainTlsErrors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

void ClearTlsErrors() { ERR_clear_error(); }

}  // namespace io_internal

struct TlsContext::Impl {
  struct SniEntry {
    std::vector<std::string> names;  // lower case
    SSL_CTX* ctx = nullptr;
  };

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    for (SniEntry& e : sni) SSL_CTX_free(e.ctx);
    SSL_CTX_free(ctx);
  }

  bool server = false;
  SSL_CTX* ctx = nullptr;
  std::vector<SniEntry> sni;
  std::string alpn_wire;  // length-prefixed protocol names
  bool alpn_required = false;
};

namespace {

using Impl = TlsContext::Impl;

absl::Status ConfigError(absl::string_view what) {
  std::string reason = io_internal::DrainTlsErrors();
  return absl::InvalidArgumentError(
      reason.empty() ? std::string(what) : absl::StrCat(what, ": ", reason));
}

// "h2", "http/1.1" -> "\x02h2\x08http/1.1".
absl::StatusOr<std::string> AlpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("ALPN protocol name '", p, "' must be 1..255 bytes"));
    }
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

int MinVersion(TlsVersion v) {
  return v == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// Settings every context shares: versions, buffer release, partial writes.
absl::Status CommonSetup(SSL_CTX* ctx, TlsVersion min_version) {
  if (SSL_CTX_set_min_proto_version(ctx, MinVersion(min_version)) != 1) {
    return ConfigError("SSL_CTX_set_min_proto_version");
  }
  // Record buffers are given back whenever they are empty (an idle session
  // holds none); partial writes keep at most one record in flight, and a
  // retried write may pass its remaining bytes from a new address.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whole socket buffers, not header then body: one recv per burst.
  SSL_CTX_set_read_ahead(ctx, 1);
  // No per-handshake session cache: it would keep memory for every client
  // (TLS 1.2); resumption still works with stateless tickets.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return absl::OkStatus();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::Status UseCertificate(SSL_CTX* ctx, const TlsCertificate& cert, absl::string_view label) {
  const bool chain_file = !cert.chain_file.empty();
  const bool key_file = !cert.key_file.empty();
  if (chain_file == !cert.chain_pem.empty() || key_file == !cert.key_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": give exactly one of chain_file / chain_pem and one of key_file / key_pem"));
  }
  if (chain_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.chain_file.c_str()) != 1) {
      return ConfigError(absl::StrCat(label, ": certificate chain '", cert.chain_file, "'"));
    }
  } else {
    BioPtr bio = MemBio(cert.chain_pem);
    X509* leaf = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (leaf == nullptr) return ConfigError(absl::StrCat(label, ": chain_pem (leaf)"));
    const int used = SSL_CTX_use_certificate(ctx, leaf);
    X509_free(leaf);
    if (used != 1) return ConfigError(absl::StrCat(label, ": chain_pem (leaf)"));
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        return ConfigError(absl::StrCat(label, ": chain_pem (intermediate)"));
      }
    }
    io_internal::ClearTlsErrors();  // the end of the PEM text
  }
  if (key_file) {
    if (SSL_CTX_use_PrivateKey_file(ctx, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return ConfigError(absl::StrCat(label, ": private key '", cert.key_file, "'"));
    }
  } else {
    BioPtr bio = MemBio(cert.key_pem);
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (key == nullptr) return ConfigError(absl::StrCat(label, ": key_pem"));
    const int used = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (used != 1) return ConfigError(absl::StrCat(label, ": key_pem"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return ConfigError(absl::StrCat(label, ": the private key does not match the certificate"));
  }
  return absl::OkStatus();
}

bool NameMatches(absl::string_view pattern, absl::string_view name) {
  if (absl::EqualsIgnoreCase(pattern, name)) return true;
  if (!absl::StartsWith(pattern, "*.")) return false;
  const size_t dot = name.find('.');
  if (dot == absl::string_view::npos || dot == 0) return false;
  return absl::EqualsIgnoreCase(pattern.substr(1), name.substr(dot));
}

// SNI: switch the session to the context whose names list the client's.
int OnServerName(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  const auto* impl = static_cast<const Impl*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  for (const Impl::SniEntry& e : impl->sni) {
    for (const std::string& pattern : e.names) {
      if (NameMatches(pattern, name)) {
        SSL_set_SSL_CTX(ssl, e.ctx);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;  // the default certificate
}

// ALPN, server side: our first protocol that the client also offers.
int OnAlpnSelect(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                 const unsigned char* in, unsigned int in_len, void* arg) {
  (void)ssl;
  const auto* impl = static_cast<const Impl*>(arg);
  const auto* ours = reinterpret_cast<const unsigned char*>(impl->alpn_wire.data());
  const size_t ours_len = impl->alpn_wire.size();
  for (size_t i = 0; i < ours_len; i += 1 + ours[i]) {
    for (unsigned int j = 0; j < in_len; j += 1u + in[j]) {
      if (j + 1u + in[j] > in_len) break;  // malformed client list
      if (in[j] == ours[i] && std::memcmp(in + j + 1, ours + i + 1, ours[i]) == 0) {
        *out = in + j + 1;
        *out_len = in[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return impl->alpn_required ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

absl::StatusOr<SSL_CTX*> NewServerCtx(const Impl* impl, const TlsCertificate& cert,
                                      const TlsServerOptions& options,
                                      absl::string_view label) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return ConfigError("SSL_CTX_new");
  absl::Status s = CommonSetup(ctx, options.min_version);
  if (s.ok()) s = UseCertificate(ctx, cert, label);
  if (!s.ok()) {
    SSL_CTX_free(ctx);
    return s;
  }
  if (!impl->alpn_wire.empty()) {
    SSL_CTX_set_alpn_select_cb(ctx, &OnAlpnSelect, const_cast<Impl*>(impl));
  }
  return ctx;
}

}  // namespace

absl::StatusOr<TlsContext> TlsContext::Server(const TlsServerOptions& options) {
  io_internal::ClearTlsErrors();
  auto impl = std::make_shared<Impl>();
  impl->server = true;
  impl->alpn_required = options.alpn_required;
  absl::StatusOr<std::string> alpn = AlpnWire(options.alpn);
  if (!alpn.ok()) return alpn.status();
  impl->alpn_wire = *std::move(alpn);
  absl::StatusOr<SSL_CTX*> ctx = NewServerCtx(impl.get(), options.certificate, options,
                                              "TLS server certificate");
  if (!ctx.ok()) return ctx.status();
  impl->ctx = *ctx;
  for (size_t i = 0; i < options.sni.size(); ++i) {
    const TlsCertificate& cert = options.sni[i];
    if (cert.server_names.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS SNI certificate ", i, ": server_names is empty"));
    }
    absl::StatusOr<SSL_CTX*> sni_ctx =
        NewServerCtx(impl.get(), cert, options, absl::StrCat("TLS SNI certificate ", i));
    if (!sni_ctx.ok()) return sni_ctx.status();
    Impl::SniEntry entry;
    entry.ctx = *sni_ctx;
    for (const std::string& n : cert.server_names) entry.names.push_back(absl::AsciiStrToLower(n));
    impl->sni.push_back(std::move(entry));
  }
  if (!impl->sni.empty()) {
    SSL_CTX_set_tlsext_servername_callback(impl->ctx, &OnServerName);
    SSL_CTX_set_tlsext_servername_arg(impl->ctx, impl.get());
  }
  return TlsContext(std::move(impl));
}

absl::StatusOr<TlsContext> TlsContext::Client(const TlsClientOptions& options) {
  io_internal::ClearTlsErrors();
  auto impl = std::make_shared<Impl>();
  absl::StatusOr<std::string> alpn = AlpnWire(options.alpn);
  if (!alpn.ok()) return alpn.status();
  impl->alpn_wire = *std::move(alpn);
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return ConfigError("SSL_CTX_new");
  impl->ctx = ctx;
  if (absl::Status s = CommonSetup(ctx, options.min_version); !s.ok()) return s;
  if (!options.ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return ConfigError(absl::StrCat("TLS client: CA file '", options.ca_file, "'"));
  }
  if (!options.ca_pem.empty()) {
    BioPtr bio = MemBio(options.ca_pem);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    while (X509* ca = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr) {
      const int ok = X509_STORE_add_cert(store, ca);
      X509_free(ca);
      if (ok != 1) return ConfigError("TLS client: ca_pem");
      ++added;
    }
    io_internal::ClearTlsErrors();  // the end of the PEM text
    if (added == 0) return ConfigError("TLS client: ca_pem holds no certificate");
  }
  if (options.ca_file.empty() && options.ca_pem.empty() &&
      SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return ConfigError("TLS client: the system's default CA store");
  }
  SSL_CTX_set_verify(ctx, options.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!impl->alpn_wire.empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(impl->alpn_wire.data()),
                              static_cast<unsigned int>(impl->alpn_wire.size())) != 0) {
    return ConfigError("TLS client: ALPN protocols");
  }
  return TlsContext(std::move(impl));
}

bool TlsContext::is_server() const { return impl_ != nullptr && impl_->server; }

SSL_CTX* TlsContext::native_handle() const { return impl_ != nullptr ? impl_->ctx : nullptr; }

}  // namespace readbuf
