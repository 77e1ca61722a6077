// examples/http_server, as clients use it: curl (a real client), requests
// split at every byte, 1,000 pipelined requests in one write, 10,000
// keep-alive connections, the error answers (400, 431 after small requests,
// 413, 501), Connection: close and HTTP/1.0, HTTPS (curl and openssl
// s_client); for every read policy on both backends where it matters.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/server_process.h"
#include "gtest/gtest.h"
#include "tests/testing/tls_certs.h"

namespace readbuf {
namespace {

using bench::ServerProcess;

std::string ServerPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (workspace ? workspace : "") +
         "/examples/http_server";
}

std::unique_ptr<ServerProcess> Start(const std::string& policy, const std::string& backend,
                                     std::vector<std::string> extra = {}) {
  ServerProcess::Options options;
  options.argv = {ServerPath(), "--port=0", "--host=127.0.0.1", "--policy=" + policy,
                  "--backend=" + backend};
  options.argv.insert(options.argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ServerProcess>> s = ServerProcess::Start(options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string RecvToEof(int fd) {
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  return got;
}

// Reads until `count` complete responses (head + Content-Length body) have
// arrived; returns them concatenated.
std::string RecvResponses(int fd, int count) {
  std::string got;
  char buf[65536];
  int complete = 0;
  size_t pos = 0;
  while (complete < count) {
    // Count the responses complete in `got` from `pos`.
    for (;;) {
      const size_t end = got.find("\r\n\r\n", pos);
      if (end == std::string::npos) break;
      const size_t cl = got.find("Content-Length: ", pos);
      size_t length = 0;
      if (cl != std::string::npos && cl < end) length = std::stoul(got.substr(cl + 16));
      if (got.size() < end + 4 + length) break;
      pos = end + 4 + length;
      ++complete;
    }
    if (complete >= count) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

int CountOf(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class HttpServerTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra = {}) {
    return Start(std::get<0>(GetParam()), std::get<1>(GetParam()), std::move(extra));
  }
};

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

TEST_P(HttpServerTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  std::string batch;
  for (int i = 0; i < 1000; ++i) {
    // Alternate routes so the order is visible in the answers.
    batch += i % 2 == 0 ? std::string(kGet)
                        : absl::StrCat("GET /bytes/", i % 17, " HTTP/1.1\r\nHost: test\r\n\r\n");
  }
  ASSERT_TRUE(SendAll(fd, batch));
  const std::string got = RecvResponses(fd, 1000);
  ::close(fd);
  EXPECT_EQ(CountOf(got, "HTTP/1.1 200 OK"), 1000);
  // In order: the i-th response's body is the i-th request's.
  size_t pos = 0;
  for (int i = 0; i < 1000; ++i) {
    const size_t end = got.find("\r\n\r\n", pos);
    ASSERT_NE(end, std::string::npos) << i;
    const size_t length = std::stoul(got.substr(got.find("Content-Length: ", pos) + 16));
    const std::string body = got.substr(end + 4, length);
    EXPECT_EQ(body, i % 2 == 0 ? std::string("Hello, world!\n") : std::string(i % 17, 'x')) << i;
    pos = end + 4 + length;
  }
}

TEST_P(HttpServerTest, RequestsSplitAtEveryByte) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string request = "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t split = 1; split < request.size(); ++split) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, request.substr(0, split)));
    ::usleep(2000);  // the first part arrives on its own
    ASSERT_TRUE(SendAll(fd, request.substr(split)));
    const std::string got = RecvResponses(fd, 1);
    ::close(fd);
    ASSERT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK") << "split at " << split;
    EXPECT_EQ(got.substr(got.size() - 5), "hello") << "split at " << split;
  }
}

TEST_P(HttpServerTest, ErrorAnswersReachTheClient) {
  std::unique_ptr<ServerProcess> server = StartServer({"--max_body=1000"});
  ASSERT_NE(server, nullptr);
  struct Case {
    std::string request;
    std::string status;
  } cases[] = {
      {"BAD\r\n\r\n", "400"},
      {"GET / HTTP/1.1\r\n\r\n", "400"},                        // no Host
      {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "400"},
      {"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", "400"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "501"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", "413"},
      {absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX: ", std::string(9000, 'a'), "\r\n\r\n"),
       "431"},
  };
  for (const Case& c : cases) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    SendAll(fd, c.request);
    const std::string got = RecvToEof(fd);  // the server closes after it
    ::close(fd);
    EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 " + c.status) << c.request.substr(0, 60) << " -> " << got;
  }
}

// After many small requests the buffer is small; a large head that a fresh
// connection would accept is still accepted.
TEST_P(HttpServerTest, ALargeHeadAfterSmallRequestsIsAccepted) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(SendAll(fd, kGet));
    ASSERT_EQ(CountOf(RecvResponses(fd, 1), "200 OK"), 1) << i;
  }
  const std::string big = absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ", std::string(6000, 'p'),
                                       "\r\n\r\n");
  ASSERT_TRUE(SendAll(fd, big));
  EXPECT_EQ(CountOf(RecvResponses(fd, 1), "200 OK"), 1);
  ::close(fd);
}

TEST_P(HttpServerTest, ConnectionCloseAndHttp10CloseAfterTheAnswer) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  for (const char* req : {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          "GET / HTTP/1.0\r\n\r\n"}) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    SendAll(fd, req);
    const std::string got = RecvToEof(fd);
    ::close(fd);
    EXPECT_EQ(CountOf(got, "200 OK"), 1) << req;
    EXPECT_NE(got.find("Hello, world!\n"), std::string::npos);
  }
  // HTTP/1.0 with keep-alive stays open for a second request.
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  std::string got = RecvResponses(fd, 1);
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos);
  SendAll(fd, "GET / HTTP/1.0\r\n\r\n");
  got = RecvToEof(fd);
  EXPECT_EQ(CountOf(got, "200 OK"), 1);
  ::close(fd);
}

TEST_P(HttpServerTest, IdleKeepAliveConnectionsAreClosed) {
  std::unique_ptr<ServerProcess> server = StartServer({"--idle_timeout=200ms"});
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, kGet);
  EXPECT_EQ(CountOf(RecvResponses(fd, 1), "200 OK"), 1);
  // Nothing more: the server closes the connection after the idle timeout.
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
}

std::string ReadFile(const std::string& path) {
  std::string s;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

// curl, a real client: keep-alive over two URLs, a POST, HEAD.
TEST_P(HttpServerTest, Curl) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl is not installed";
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string base = absl::StrCat("http://127.0.0.1:", server->port());
  const std::string out = absl::StrCat(::testing::TempDir(), "/curl.", ::getpid());
  const std::string cmd = absl::StrCat(
      "curl -sS --fail-with-body ", base, "/ ", base, "/bytes/100000 -o ", out, ".1 -o ", out,
      ".2 && curl -sS -X POST --data-binary 'posted body' ", base, "/echo -o ", out,
      ".3 && curl -sS -I ", base, "/ -o ", out, ".4");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(ReadFile(out + ".1"), "Hello, world!\n");
  EXPECT_EQ(ReadFile(out + ".2"), std::string(100000, 'x'));
  EXPECT_EQ(ReadFile(out + ".3"), "posted body");
  EXPECT_NE(ReadFile(out + ".4").find("Content-Length: 14"), std::string::npos);
}

// HTTPS with --tls_cert/--tls_key: curl --cacert (keep-alive over two URLs,
// a POST), then 200 pipelined requests in one write through
// `openssl s_client`, answered in order before the connection closes.
TEST_P(HttpServerTest, HttpsWithCurlAndOpensslClient) {
  if (std::system("command -v curl >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "curl or openssl is not installed";
  }
  const std::string dir = absl::StrCat(::testing::TempDir(), "/https.", ::getpid());
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  absl::StatusOr<testing_tls::TestPki> pki = testing_tls::MakeTestPki(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  std::unique_ptr<ServerProcess> server = StartServer(
      {"--tls_cert=" + pki->good.cert_file, "--tls_key=" + pki->good.key_file});
  ASSERT_NE(server, nullptr);
  const std::string base = absl::StrCat("https://localhost:", server->port());
  const std::string out = absl::StrCat(dir, "/curl");
  const std::string cmd = absl::StrCat(
      "curl -sS --fail-with-body --cacert ", pki->ca.cert_file, " ", base, "/ ", base,
      "/bytes/100000 -o ", out, ".1 -o ", out, ".2 && curl -sS --cacert ", pki->ca.cert_file,
      " -X POST --data-binary 'posted body' ", base, "/echo -o ", out, ".3");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(ReadFile(out + ".1"), "Hello, world!\n");
  EXPECT_EQ(ReadFile(out + ".2"), std::string(100000, 'x'));
  EXPECT_EQ(ReadFile(out + ".3"), "posted body");

  std::string requests;
  for (int i = 0; i < 199; ++i) requests += "GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n";
  requests += "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string in_file = absl::StrCat(dir, "/pipelined.txt");
  if (FILE* f = std::fopen(in_file.c_str(), "wb")) {
    std::fwrite(requests.data(), 1, requests.size(), f);
    std::fclose(f);
  }
  // -ign_eof: s_client keeps reading after its stdin ends, until the server
  // closes (after the last answer, Connection: close).
  const std::string s_client = absl::StrCat(
      "timeout 20 openssl s_client -quiet -ign_eof -verify_return_error -CAfile ",
      pki->ca.cert_file, " -servername localhost -connect 127.0.0.1:", server->port(), " < ",
      in_file, " > ", out, ".4 2>/dev/null");
  ASSERT_EQ(std::system(s_client.c_str()), 0) << s_client;
  const std::string answers = ReadFile(out + ".4");
  EXPECT_EQ(CountOf(answers, "HTTP/1.1 200 OK"), 200);
  EXPECT_EQ(CountOf(answers, "\r\n\r\nxxx"), 199);
  EXPECT_TRUE(absl::EndsWith(answers, "Hello, world!\n")) << answers.substr(answers.size() - 100);
}

INSTANTIATE_TEST_SUITE_P(
    PoliciesAndBackends, HttpServerTest,
    ::testing::Combine(::testing::Values("pooled", "zeroed", "uninit", "vectored", "dyn"),
                       ::testing::Values("epoll", "uring")));

// 10,000 keep-alive connections, each answered twice (pooled, both backends).
class HttpServerScaleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HttpServerScaleTest, TenThousandKeepAliveConnections) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  const int n = static_cast<int>(std::min<rlim_t>(10000, lim.rlim_max > 100 ? lim.rlim_max - 100 : 0));
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  std::unique_ptr<ServerProcess> server = Start("pooled", GetParam());
  ASSERT_NE(server, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  for (int round = 0; round < 2; ++round) {
    for (int fd : fds) ASSERT_TRUE(SendAll(fd, kGet));
    int answered = 0;
    for (int fd : fds) answered += CountOf(RecvResponses(fd, 1), "200 OK");
    EXPECT_EQ(answered, n) << "round " << round;
  }
  for (int fd : fds) ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpServerScaleTest, ::testing::Values("epoll", "uring"));

int RunServer(std::vector<std::string> flags) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> args = {ServerPath()};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::freopen("/dev/null", "w", stderr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(HttpServerFlagsTest, BadFlagsExitWithStatusTwo) {
  EXPECT_EQ(RunServer({"--policy=bogus"}), 2);
  EXPECT_EQ(RunServer({"--backend=kqueue"}), 2);
  EXPECT_EQ(RunServer({"--threads=0"}), 2);
  EXPECT_EQ(RunServer({"--idle_timeout=0s"}), 2);
  EXPECT_EQ(RunServer({"--tls_cert=/nonexistent.pem"}), 2);  // without --tls_key
  EXPECT_EQ(RunServer({"--tls_cert=/nonexistent.pem", "--tls_key=/nonexistent.pem"}), 2);
}

}  // namespace
}  // namespace readbuf
