// -----------------------------------------------------------------------------
// File: tests/fuzz/address_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes io/address.h. The first byte picks the entry point; the rest is the
// text or raw sockaddr bytes:
//
//   0  SocketAddress::Parse(text): on success the family, length and port
//      agree with the text, ToString() parses back to an equal address, and
//      WithPort() changes only the port; on failure the status is
//      InvalidArgument naming "bad socket address".
//   1  SocketAddress::Unix(path): on success ToString() is "unix:" + path
//      (paths without NUL bytes); on failure InvalidArgument.
//   2  SocketAddress::FromSockaddr(raw bytes): ToString(), port() and
//      WithPort() never read outside the address, whatever the bytes say.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "buf/internal/check.h"
#include "io/address.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

void CheckRejected(const absl::Status& status) {
  READBUF_CHECK(status.code() == absl::StatusCode::kInvalidArgument, "unexpected code: %s",
                status.ToString().c_str());
  READBUF_CHECK(status.message().find("bad socket address") != absl::string_view::npos,
                "message does not name the problem: %s", status.ToString().c_str());
}

void FuzzParse(const std::string& text) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse(text);
  if (!a.ok()) {
    CheckRejected(a.status());
    return;
  }
  // The port is the decimal text after the last ':'.
  const size_t colon = text.rfind(':');
  READBUF_CHECK(colon != std::string::npos, "accepted \"%s\" without ':'", text.c_str());
  uint32_t port = 0;
  READBUF_CHECK(absl::SimpleAtoi(absl::string_view(text).substr(colon + 1), &port),
                "accepted a non-numeric port in \"%s\"", text.c_str());
  READBUF_CHECK(port == a->port(), "\"%s\": port() = %u", text.c_str(), a->port());
  if (text.front() == '[') {
    READBUF_CHECK(a->family() == AF_INET6 && a->length() == sizeof(sockaddr_in6),
                  "\"%s\" is not an IPv6 address", text.c_str());
  } else {
    READBUF_CHECK(a->family() == AF_INET && a->length() == sizeof(sockaddr_in),
                  "\"%s\" is not an IPv4 address", text.c_str());
  }
  // ToString() is canonical: it parses back to the same address.
  const std::string canonical = a->ToString();
  absl::StatusOr<SocketAddress> again = SocketAddress::Parse(canonical);
  READBUF_CHECK(again.ok(), "\"%s\" -> \"%s\" does not parse: %s", text.c_str(),
                canonical.c_str(), again.status().ToString().c_str());
  READBUF_CHECK(*again == *a, "\"%s\" -> \"%s\" parses to a different address", text.c_str(),
                canonical.c_str());
  READBUF_CHECK(again->ToString() == canonical, "ToString() is not stable for \"%s\"",
                canonical.c_str());
  // WithPort changes the port and nothing else.
  const auto other = static_cast<uint16_t>(port ^ 0x5a5a);  // never port
  const SocketAddress moved = a->WithPort(other);
  READBUF_CHECK(moved.port() == other, "WithPort(%u) gave %u", other, moved.port());
  READBUF_CHECK(moved != *a, "WithPort did not change the address");
  READBUF_CHECK(moved.WithPort(static_cast<uint16_t>(port)) == *a,
                "WithPort changed more than the port of \"%s\"", text.c_str());
}

void FuzzUnix(const std::string& path) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Unix(path);
  if (!a.ok()) {
    CheckRejected(a.status());
    READBUF_CHECK(path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path),
                  "rejected a %zu-byte path", path.size());
    return;
  }
  READBUF_CHECK(a->family() == AF_UNIX, "Unix() family %d", a->family());
  READBUF_CHECK(a->port() == 0, "a Unix address has port %u", a->port());
  READBUF_CHECK(a->WithPort(7) == *a, "WithPort changed a Unix address");
  if (path.find('\0') == std::string::npos) {
    READBUF_CHECK(a->ToString() == "unix:" + path, "Unix(\"%s\").ToString() = \"%s\"",
                  path.c_str(), a->ToString().c_str());
  } else {
    (void)a->ToString();
  }
}

void FuzzFromSockaddr(const std::string& raw) {
  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  const size_t len = std::min(raw.size(), sizeof(storage));
  std::memcpy(&storage, raw.data(), len);
  const SocketAddress a =
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage),
                                  static_cast<socklen_t>(len));
  READBUF_CHECK(a.length() == len, "length %u, want %zu", static_cast<unsigned>(a.length()),
                len);
  const std::string text = a.ToString();
  READBUF_CHECK(!text.empty(), "empty ToString()");
  (void)a.WithPort(a.port()).ToString();
  READBUF_CHECK(a == a, "an address differs from itself");
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  readbuf::fuzz::FuzzInput in(data, size);
  switch (in.Range(0, 2)) {
    case 0:
      readbuf::fuzz::FuzzParse(in.Rest());
      break;
    case 1:
      readbuf::fuzz::FuzzUnix(in.Rest());
      break;
    default:
      readbuf::fuzz::FuzzFromSockaddr(in.Rest());
      break;
  }
  return 0;
}
