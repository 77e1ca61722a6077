#include "io/address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/spawn_blocking.h"

namespace readbuf {
namespace {

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad socket address \"", text, "\": ", why));
}

struct HostPort {
  std::string host;
  std::string port;
  bool numeric_port = false;
};

// Splits "host:port" / "[v6]:port" for getaddrinfo.
absl::StatusOr<HostPort> SplitHostPort(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  absl::string_view host;
  absl::string_view port;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return Invalid(text, "missing ']' after IPv6 address");
    }
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return Invalid(text, "expected ':port' after ']'");
    }
    port = rest.substr(1);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Invalid(text, "missing ':port'");
    host = text.substr(0, colon);
    if (host.find(':') != absl::string_view::npos) {
      return Invalid(text, "IPv6 addresses must be written as [addr]:port");
    }
    port = text.substr(colon + 1);
  }
  if (host.empty()) return Invalid(text, "missing host");
  if (port.empty()) return Invalid(text, "missing port");
  HostPort hp{std::string(host), std::string(port), false};
  hp.numeric_port = std::all_of(port.begin(), port.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
  std::uint32_t n = 0;
  if (hp.numeric_port &&
      (port.size() > 5 || !absl::SimpleAtoi(port, &n) || n > 65535)) {
    return Invalid(text, "port out of range 0..65535");
  }
  return hp;
}

// A getaddrinfo failure as a status naming the input and the host.
absl::Status LookupError(int rc, int err, absl::string_view text,
                         const HostPort& hp) {
  const std::string what = absl::StrCat(
      "cannot resolve \"", text, "\": getaddrinfo(host \"", hp.host,
      "\", port \"", hp.port, "\"): ");
  switch (rc) {
    case EAI_SYSTEM:
      return absl::ErrnoToStatus(err, what);
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_SERVICE:
      return absl::NotFoundError(absl::StrCat(what, ::gai_strerror(rc)));
    case EAI_AGAIN:
    case EAI_FAIL:
      return absl::UnavailableError(absl::StrCat(what, ::gai_strerror(rc)));
    case EAI_MEMORY:
      return absl::ResourceExhaustedError(absl::StrCat(what, ::gai_strerror(rc)));
    default:
      return absl::UnknownError(absl::StrCat(what, ::gai_strerror(rc)));
  }
}

Task<absl::StatusOr<std::vector<SocketAddress>>> ResolveOnPool(std::string text) {
  // IP literals and malformed text need no lookup.
  if (absl::StatusOr<SocketAddress> literal = SocketAddress::Parse(text); literal.ok()) {
    co_return std::vector<SocketAddress>{*literal};
  }
  if (absl::StatusOr<HostPort> hp = SplitHostPort(text); !hp.ok()) co_return hp.status();
  BlockingHandle<absl::StatusOr<std::vector<SocketAddress>>> lookup =
      spawn_blocking([text] { return SocketAddress::ResolveBlocking(text); });
  // Cancelled before the lookup started (timeout, task cancel): it never
  // starts. No effect once it has.
  absl::Cleanup cancel_unstarted = [&lookup] { lookup.cancel(); };
  co_return co_await lookup;
}

}  // namespace

Task<absl::StatusOr<std::vector<SocketAddress>>> SocketAddress::Resolve(
    absl::string_view host_port) {
  // Not a coroutine itself: the text is copied before the caller's view can
  // dangle (a Task starts only when awaited).
  return ResolveOnPool(std::string(host_port));
}

absl::StatusOr<std::vector<SocketAddress>> SocketAddress::ResolveBlocking(
    absl::string_view host_port) {
  if (absl::StatusOr<SocketAddress> literal = Parse(host_port); literal.ok()) {
    return std::vector<SocketAddress>{*literal};
  }
  absl::StatusOr<HostPort> hp = SplitHostPort(host_port);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = hp->numeric_port ? AI_NUMERICSERV : 0;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(hp->host.c_str(), hp->port.c_str(), &hints, &res);
  if (rc != 0) return LookupError(rc, errno, host_port, *hp);
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        ai->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    SocketAddress a = FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot resolve \"", host_port,
                                            "\": no IPv4 or IPv6 address for host \"",
                                            hp->host, "\""));
  }
  return out;
}

SocketAddress::SocketAddress() : len_(0) {
  std::memset(&storage_, 0, sizeof(storage_));
  storage_.ss_family = AF_UNSPEC;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  absl::string_view host;
  absl::string_view port_text;
  bool v6 = false;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return Invalid(text, "missing ']' after IPv6 address");
    }
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return Invalid(text, "expected ':port' after ']'");
    }
    port_text = rest.substr(1);
    v6 = true;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return Invalid(text, "missing ':port'");
    }
    host = text.substr(0, colon);
    if (host.find(':') != absl::string_view::npos) {
      return Invalid(text, "IPv6 addresses must be written as [addr]:port");
    }
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) return Invalid(text, "missing host");
  if (port_text.empty()) return Invalid(text, "missing port");
  std::uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return Invalid(text, "port is not a number");
  }
  if (port_text.size() > 5 || !absl::SimpleAtoi(port_text, &port) ||
      port > 65535) {
    return Invalid(text, "port out of range 0..65535");
  }
  SocketAddress a;
  std::string h(host);
  if (v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1) {
      return Invalid(text, "not a valid IPv6 address");
    }
    a.len_ = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1) {
      return Invalid(text, "not a valid IPv4 address");
    }
    a.len_ = sizeof(sockaddr_in);
  }
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::Unix(absl::string_view path) {
  if (path.empty()) return Invalid(path, "empty Unix socket path");
  SocketAddress a;
  auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.size() >= sizeof(sun->sun_path)) {
    return Invalid(path, absl::StrCat("Unix socket path longer than ",
                                      sizeof(sun->sun_path) - 1, " bytes"));
  }
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.data(), path.size());
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                  path.size() + 1);
  return a;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* sa, socklen_t len) {
  READBUF_CHECK(len <= sizeof(sockaddr_storage), "sockaddr too long: %u",
                static_cast<unsigned>(len));
  SocketAddress a;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

SocketAddress SocketAddress::WithPort(std::uint16_t port) const {
  SocketAddress a = *this;
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
  }
  return a;
}

std::string SocketAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage_);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", port());
  }
  if (family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
    return absl::StrCat("[", buf, "]:", port());
  }
  if (family() == AF_UNIX) {
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
    std::size_t max = len_ > offsetof(sockaddr_un, sun_path)
                          ? len_ - offsetof(sockaddr_un, sun_path)
                          : 0;
    return absl::StrCat("unix:", std::string(sun->sun_path,
                                             strnlen(sun->sun_path, max)));
  }
  return "unspecified";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace readbuf
