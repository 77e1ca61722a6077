// -----------------------------------------------------------------------------
// File: tests/testing/tls_certs.h
// -----------------------------------------------------------------------------
//
// A throw-away PKI for TLS tests and benchmarks, made at run time with the TLS
// library's own API (the subset OpenSSL 3 and BoringSSL share): a CA and, all
// ECDSA P-256,
//   good         signed by the CA for DNS "localhost" and IP 127.0.0.1
//   other        signed by the CA for DNS "other.example" (for SNI tests)
//   expired      signed by the CA for "localhost", valid until yesterday
//   self_signed  for "localhost", signed by itself (no CA trusts it)
// No private key is ever committed: each run makes new ones, written as PEM
// files into `dir` (a test's TEST_TMPDIR) and kept as PEM text.
//
// Example:
//
//   absl::StatusOr<readbuf::testing_tls::TestPki> pki =
//       readbuf::testing_tls::MakeTestPki(std::getenv("TEST_TMPDIR"));
//   server.certificate = pki->good.AsCertificate();
//   client.ca_file = pki->ca.cert_file;

#ifndef READBUF_TESTS_TESTING_TLS_CERTS_H_
#define READBUF_TESTS_TESTING_TLS_CERTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "io/tls_context.h"

namespace readbuf::testing_tls {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
  std::string cert_file;  // PEM files in the PKI's directory
  std::string key_file;
  TlsCertificate AsCertificate() const {
    TlsCertificate c;
    c.chain_file = cert_file;
    c.key_file = key_file;
    return c;
  }
};

struct TestPki {
  CertAndKey ca;
  CertAndKey good;
  CertAndKey other;
  CertAndKey expired;
  CertAndKey self_signed;
};

// Makes the keys and certificates and writes them into `dir` (which must
// exist). Errors: the TLS library's reason, or the file that failed.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

// The test's TEST_TMPDIR (or /tmp outside Bazel).
std::string TestTmpDir();

}  // namespace readbuf::testing_tls

#endif  // READBUF_TESTS_TESTING_TLS_CERTS_H_
