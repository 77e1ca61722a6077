// -----------------------------------------------------------------------------
// File: io/address.h
// -----------------------------------------------------------------------------
//
// SocketAddress: an IPv4, IPv6 or Unix-domain socket address, parsed from
// text with clear errors and convertible back to text, or resolved from a
// host name (getaddrinfo on the Runtime's blocking pool, io/spawn_blocking.h).
//
// Example:
//
//   absl::StatusOr<readbuf::SocketAddress> a =
//       readbuf::SocketAddress::Parse("127.0.0.1:8080");
//   absl::StatusOr<readbuf::SocketAddress> b =
//       readbuf::SocketAddress::Parse("[::1]:80");
//   absl::StatusOr<readbuf::SocketAddress> u =
//       readbuf::SocketAddress::Unix("/tmp/app.sock");
//   absl::StatusOr<std::vector<readbuf::SocketAddress>> r =
//       co_await readbuf::SocketAddress::Resolve("example.com:443");
//
// Thread safety: a value type; distinct objects are independent.

#ifndef READBUF_IO_ADDRESS_H_
#define READBUF_IO_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "io/task.h"

namespace readbuf {

class SocketAddress {
 public:
  // An empty address (family() == AF_UNSPEC).
  SocketAddress();

  // Parses "a.b.c.d:port" or "[ipv6]:port" (port 0..65535, decimal).
  // Errors are absl::InvalidArgumentError naming the input and the problem.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view text);

  // Resolves "host:port" to the addresses to try, in getaddrinfo(3)'s order
  // of preference, without duplicates. host is a name, an IPv4 address or a
  // bracketed IPv6 address ("[::1]:80"); port is a number or a service name
  // ("https"). An IP literal is returned at once; a name is looked up with
  // getaddrinfo on the Runtime's blocking pool (spawn_blocking), so the core
  // is never blocked. Errors name the input and the host:
  // InvalidArgumentError for malformed text; for a failed lookup, with
  // gai_strerror's text, NotFoundError (no such host or service),
  // UnavailableError (temporary or non-recoverable resolver failure), or
  // the errno status for EAI_SYSTEM.
  // Cancellation (timeout(), JoinHandle::cancel): a lookup that has not
  // started never starts; one already in getaddrinfo runs to its end on its
  // pool thread and its result is dropped.
  // REQUIRES: awaited on a reactor core.
  static Task<absl::StatusOr<std::vector<SocketAddress>>> Resolve(
      absl::string_view host_port);

  // Resolve on the calling thread: blocks it in getaddrinfo for names. For
  // threads that are not reactor cores (Resolve runs this on the pool).
  static absl::StatusOr<std::vector<SocketAddress>> ResolveBlocking(
      absl::string_view host_port);

  // A Unix-domain path address. Errors: empty or too long a path.
  static absl::StatusOr<SocketAddress> Unix(absl::string_view path);

  // Wraps a kernel-provided address. REQUIRES: len <= sizeof(sockaddr_storage).
  static SocketAddress FromSockaddr(const sockaddr* sa, socklen_t len);

  int family() const { return storage_.ss_family; }
  // The port of an IP address, 0 otherwise.
  std::uint16_t port() const;
  // A copy with the port replaced (IP addresses only).
  SocketAddress WithPort(std::uint16_t port) const;

  // "1.2.3.4:80", "[::1]:80", "unix:/path" or "unspecified".
  std::string ToString() const;

  const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t length() const { return len_; }

  friend bool operator==(const SocketAddress& a, const SocketAddress& b);
  friend bool operator!=(const SocketAddress& a, const SocketAddress& b) {
    return !(a == b);
  }

 private:
  sockaddr_storage storage_;
  socklen_t len_;
};

}  // namespace readbuf

#endif  // READBUF_IO_ADDRESS_H_
