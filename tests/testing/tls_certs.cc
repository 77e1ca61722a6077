// -----------------------------------------------------------------------------
// File: tests/testing/tls_certs.cc
// -----------------------------------------------------------------------------
//
// MakeTestPki (tests/testing/tls_certs.h): EC keys with EVP_PKEY_keygen and
// X.509 v3 certificates with SAN and basicConstraints, built and signed with
// functions OpenSSL 3 and BoringSSL both provide.

#include "tests/testing/tls_certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace readbuf::testing_tls {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

absl::Status LibError(const std::string& what) {
  std::string reason;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    absl::StrAppend(&reason, reason.empty() ? "" : "; ", text);
  }
  return absl::InternalError(absl::StrCat(what, ": ", reason));
}

absl::StatusOr<PkeyPtr> NewKey() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
  if (ctx == nullptr) return LibError("EVP_PKEY_CTX_new_id");
  EVP_PKEY* key = nullptr;
  const bool ok = EVP_PKEY_keygen_init(ctx) == 1 &&
                  EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 &&
                  EVP_PKEY_keygen(ctx, &key) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return LibError("EC key generation");
  return PkeyPtr(key);
}

bool AddSan(X509* x, const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  if (names == nullptr) return false;
  bool ok = true;
  for (const std::string& d : dns) {
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (g == nullptr || s == nullptr ||
        ASN1_STRING_set(s, d.data(), static_cast<int>(d.size())) != 1) {
      GENERAL_NAME_free(g);
      ASN1_IA5STRING_free(s);
      ok = false;
      break;
    }
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(names, g);
  }
  for (const std::string& ip : ips) {
    unsigned char addr[4];
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
    if (g == nullptr || s == nullptr || inet_pton(AF_INET, ip.c_str(), addr) != 1 ||
        ASN1_OCTET_STRING_set(s, addr, sizeof(addr)) != 1) {
      GENERAL_NAME_free(g);
      ASN1_OCTET_STRING_free(s);
      ok = false;
      break;
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, s);
    sk_GENERAL_NAME_push(names, g);
  }
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  return ok;
}

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  bool ca = false;
  long not_before_days = -1;
  long not_after_days = 30;
  long serial = 1;
};

// A certificate for `key`, signed by `issuer_key` with `issuer` as issuer
// name (itself when issuer is null).
absl::StatusOr<X509Ptr> NewCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                                EVP_PKEY* issuer_key) {
  X509Ptr x(X509_new());
  if (!x) return LibError("X509_new");
  X509_NAME* name = X509_get_subject_name(x.get());
  const bool ok =
      X509_set_version(x.get(), 2) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(x.get()), spec.serial) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(x.get()), spec.not_before_days * 86400) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(x.get()), spec.not_after_days * 86400) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                 -1, -1, 0) == 1 &&
      X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name) ==
          1 &&
      X509_set_pubkey(x.get(), key) == 1;
  if (!ok) return LibError("building the certificate");
  BASIC_CONSTRAINTS* bc = BASIC_CONSTRAINTS_new();
  if (bc == nullptr) return LibError("BASIC_CONSTRAINTS_new");
  bc->ca = spec.ca ? 1 : 0;
  const int added = X509_add1_ext_i2d(x.get(), NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT);
  BASIC_CONSTRAINTS_free(bc);
  if (added != 1) return LibError("basicConstraints");
  if ((!spec.dns.empty() || !spec.ips.empty()) && !AddSan(x.get(), spec.dns, spec.ips)) {
    return LibError("subjectAltName");
  }
  if (X509_sign(x.get(), issuer_key, EVP_sha256()) == 0) return LibError("X509_sign");
  return x;
}

absl::StatusOr<std::string> Pem(X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return LibError("BIO_new");
  const int ok = cert != nullptr
                     ? PEM_write_bio_X509(bio, cert)
                     : PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  const char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out = ok == 1 && len > 0 ? std::string(data, static_cast<size_t>(len)) : "";
  BIO_free(bio);
  if (out.empty()) return LibError("PEM_write_bio");
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& text, bool secret) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("fopen(", path, ")"));
  if (secret) ::chmod(path.c_str(), 0600);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return absl::ErrnoToStatus(errno, absl::StrCat("write(", path, ")"));
  return absl::OkStatus();
}

absl::StatusOr<CertAndKey> Issue(const std::string& dir, const std::string& stem,
                                 const CertSpec& spec, X509* issuer, EVP_PKEY* issuer_key,
                                 PkeyPtr* key_out, X509Ptr* cert_out) {
  absl::StatusOr<PkeyPtr> key = NewKey();
  if (!key.ok()) return key.status();
  EVP_PKEY* signer = issuer_key != nullptr ? issuer_key : key->get();
  absl::StatusOr<X509Ptr> cert = NewCert(spec, key->get(), issuer, signer);
  if (!cert.ok()) return cert.status();
  CertAndKey out;
  absl::StatusOr<std::string> cert_pem = Pem(cert->get(), nullptr);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = Pem(nullptr, key->get());
  if (!key_pem.ok()) return key_pem.status();
  out.cert_pem = *std::move(cert_pem);
  out.key_pem = *std::move(key_pem);
  out.cert_file = absl::StrCat(dir, "/", stem, ".crt");
  out.key_file = absl::StrCat(dir, "/", stem, ".key");
  if (absl::Status s = WriteFile(out.cert_file, out.cert_pem, false); !s.ok()) return s;
  if (absl::Status s = WriteFile(out.key_file, out.key_pem, true); !s.ok()) return s;
  if (key_out != nullptr) *key_out = *std::move(key);
  if (cert_out != nullptr) *cert_out = *std::move(cert);
  return out;
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  TestPki pki;
  PkeyPtr ca_key;
  X509Ptr ca_cert;
  CertSpec ca;
  ca.common_name = "readbuf test CA";
  ca.ca = true;
  ca.serial = 1;
  absl::StatusOr<CertAndKey> c = Issue(dir, "ca", ca, nullptr, nullptr, &ca_key, &ca_cert);
  if (!c.ok()) return c.status();
  pki.ca = *std::move(c);
  CertSpec good{.common_name = "localhost", .dns = {"localhost"}, .ips = {"127.0.0.1"}, .serial = 2};
  if (c = Issue(dir, "good", good, ca_cert.get(), ca_key.get(), nullptr, nullptr); !c.ok()) {
    return c.status();
  }
  pki.good = *std::move(c);
  CertSpec other;
  other.common_name = "other.example";
  other.dns = {"other.example"};
  other.serial = 3;
  if (c = Issue(dir, "other", other, ca_cert.get(), ca_key.get(), nullptr, nullptr); !c.ok()) {
    return c.status();
  }
  pki.other = *std::move(c);
  CertSpec expired{.common_name = "localhost",
                   .dns = {"localhost"},
                   .ips = {"127.0.0.1"},
                   .not_before_days = -10,
                   .not_after_days = -1,
                   .serial = 4};
  if (c = Issue(dir, "expired", expired, ca_cert.get(), ca_key.get(), nullptr, nullptr); !c.ok()) {
    return c.status();
  }
  pki.expired = *std::move(c);
  CertSpec self{.common_name = "localhost", .dns = {"localhost"}, .ips = {"127.0.0.1"}, .serial = 5};
  if (c = Issue(dir, "self_signed", self, nullptr, nullptr, nullptr, nullptr); !c.ok()) {
    return c.status();
  }
  pki.self_signed = *std::move(c);
  return pki;
}

std::string TestTmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

}  // namespace readbuf::testing_tls
