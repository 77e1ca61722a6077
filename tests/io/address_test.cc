#include "io/address.h"

#include <sys/socket.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace readbuf {
namespace {

TEST(SocketAddressTest, ParsesIpv4) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse("127.0.0.1:8080");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->ToString(), "127.0.0.1:8080");
}

TEST(SocketAddressTest, ParsesIpv6InBrackets) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse("[::1]:80");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->family(), AF_INET6);
  EXPECT_EQ(a->port(), 80);
  EXPECT_EQ(a->ToString(), "[::1]:80");
  absl::StatusOr<SocketAddress> b = SocketAddress::Parse("[2001:db8::7]:65535");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ToString(), "[2001:db8::7]:65535");
}

TEST(SocketAddressTest, PortZeroAndWithPort) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse("0.0.0.0:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port(), 0);
  EXPECT_EQ(a->WithPort(443).ToString(), "0.0.0.0:443");
  EXPECT_NE(*a, a->WithPort(443));
  EXPECT_EQ(*a, *SocketAddress::Parse("0.0.0.0:0"));
}

struct BadCase {
  const char* text;
  const char* why;
};

TEST(SocketAddressTest, RejectsBadInputWithClearErrors) {
  const BadCase cases[] = {
      {"", "empty"},
      {"127.0.0.1", "missing ':port'"},
      {"127.0.0.1:", "missing port"},
      {":80", "missing host"},
      {"127.0.0.1:http", "not a number"},
      {"127.0.0.1:-1", "not a number"},
      {"127.0.0.1:65536", "out of range"},
      {"127.0.0.1:123456", "out of range"},
      {"256.0.0.1:80", "not a valid IPv4"},
      {"localhost:80", "not a valid IPv4"},
      {"::1:80", "[addr]:port"},
      {"[::1]80", "':port'"},
      {"[::1", "missing ']'"},
      {"[::g]:80", "not a valid IPv6"},
      {"[]:80", "missing host"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<SocketAddress> a = SocketAddress::Parse(c.text);
    ASSERT_FALSE(a.ok()) << c.text;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(absl::StrContains(a.status().message(), c.why))
        << c.text << ": " << a.status();
    EXPECT_TRUE(absl::StrContains(a.status().message(),
                                  std::string("\"") + c.text + "\""))
        << a.status();
  }
}

TEST(SocketAddressTest, UnixPaths) {
  absl::StatusOr<SocketAddress> u = SocketAddress::Unix("/tmp/x.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->family(), AF_UNIX);
  EXPECT_EQ(u->port(), 0);
  EXPECT_EQ(u->ToString(), "unix:/tmp/x.sock");
  EXPECT_EQ(SocketAddress::Unix("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SocketAddress::Unix(std::string(200, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SocketAddressTest, DefaultIsUnspecified) {
  SocketAddress a;
  EXPECT_EQ(a.family(), AF_UNSPEC);
  EXPECT_EQ(a.ToString(), "unspecified");
  EXPECT_EQ(a.length(), 0u);
}

}  // namespace
}  // namespace readbuf
