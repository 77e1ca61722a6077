// TlsStream against real TLS clients, on both backends: `openssl s_client`
// (TLS 1.3 and 1.2, SNI, ALPN, CA verification, close_notify at the end)
// echoing through read_into with every policy, and `curl --cacert` fetching
// a page over HTTP/1.1 (ALPN) -- and refusing the server for a wrong
// hostname. Both binaries come from Debian packages (openssl, curl) and are
// found on PATH; a test is skipped with a message saying which one is
// missing. Certificates are made at run time in TEST_TMPDIR.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <typeinfo>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/tls_context.h"
#include "io/tls_stream.h"
#include "tests/tls/tls_test_util.h"

namespace readbuf {
namespace {

using testing_tls::Backends;
using testing_tls::BackendName;
using testing_tls::CountOpenFds;
using testing_tls::Loopback;
using testing_tls::Pki;
using testing_tls::ServerContext;

// The absolute path of `name` on PATH, or nullopt.
std::optional<std::string> FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// A child process with its stdin and stdout on pipes (stderr joins stdout).
class Child {
 public:
  static std::unique_ptr<Child> Start(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return nullptr;
    const pid_t pid = ::fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    auto c = std::unique_ptr<Child>(new Child());
    c->pid_ = pid;
    c->stdin_ = in[1];
    c->stdout_ = out[0];
    return c;
  }
  ~Child() {
    CloseStdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void Write(const std::string& s) { (void)!::write(stdin_, s.data(), s.size()); }
  void CloseStdin() {
    if (stdin_ >= 0) ::close(std::exchange(stdin_, -1));
  }
  // Reads stdout until it contains `needle` or `deadline`; returns it all.
  std::string ReadUntil(const std::string& needle, absl::Duration within) {
    const absl::Time deadline = absl::Now() + within;
    while (!absl::StrContains(output_, needle) && absl::Now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(stdout_, buf, sizeof(buf));
      if (n <= 0) break;
      output_.append(buf, static_cast<size_t>(n));
    }
    return output_;
  }
  // Waits for the exit (reading the rest of stdout); the exit code, or -1 on
  // a timeout (the child is killed) or a signal.
  int Wait(absl::Duration within) {
    ReadUntil("\x01never\x02", within);  // to EOF or the deadline
    const absl::Time deadline = absl::Now() + within;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (absl::Now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& output() const { return output_; }

 private:
  Child() = default;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string output_;
};

// What one served connection saw.
struct Served {
  absl::Status handshake;
  std::string alpn;
  std::string sni;
  std::string version;
  size_t bytes = 0;
  absl::Status end;  // OK: the client's close_notify, answered
};

// Accepts one connection, handshakes, echoes with `Policy` until the
// client's close_notify, and closes gracefully.
template <class Policy>
Task<void> ServeOneEcho(TcpListener* listener, TlsContext ctx, Policy buf, Served* out) {
  absl::StatusOr<TcpStream> conn = co_await timeout(listener->accept(), absl::Seconds(20));
  if (!conn.ok()) {
    out->handshake = conn.status();
    co_return;
  }
  absl::StatusOr<TlsStream<TcpStream>> tls = TlsStream<TcpStream>::Server(*std::move(conn), ctx);
  if (!tls.ok()) {
    out->handshake = tls.status();
    co_return;
  }
  out->handshake = co_await timeout(tls->handshake(), absl::Seconds(20));
  if (!out->handshake.ok()) co_return;
  out->alpn = std::string(tls->alpn_protocol());
  out->sni = std::string(tls->server_name());
  out->version = std::string(tls->protocol_version());
  for (;;) {
    absl::StatusOr<size_t> n = co_await timeout(read_into(*tls, buf), absl::Seconds(20));
    if (!n.ok()) {
      out->end = n.status();
      co_return;
    }
    if (*n == 0) {
      out->end = co_await graceful_close(*tls, absl::Seconds(5));
      co_return;
    }
    out->bytes += *n;
    if (absl::Status w = co_await write_filled(*tls, buf); !w.ok()) {
      out->end = w;
      co_return;
    }
    buf.clear();
  }
}

// Accepts one connection and answers one HTTP/1.1 request with "hello
// from readbuf\n", then closes gracefully.
Task<void> ServeOneHttp(TcpListener* listener, TlsContext ctx, Served* out) {
  absl::StatusOr<TcpStream> conn = co_await timeout(listener->accept(), absl::Seconds(20));
  if (!conn.ok()) {
    out->handshake = conn.status();
    co_return;
  }
  absl::StatusOr<TlsStream<TcpStream>> tls = TlsStream<TcpStream>::Server(*std::move(conn), ctx);
  if (!tls.ok()) {
    out->handshake = tls.status();
    co_return;
  }
  out->handshake = co_await timeout(tls->handshake(), absl::Seconds(20));
  if (!out->handshake.ok()) co_return;
  out->alpn = std::string(tls->alpn_protocol());
  out->sni = std::string(tls->server_name());
  Pooled buf(16 * 1024);
  std::string request;
  while (!absl::StrContains(request, "\r\n\r\n")) {
    absl::StatusOr<size_t> n = co_await timeout(read_into(*tls, buf), absl::Seconds(20));
    if (!n.ok() || *n == 0) {
      out->end = n.ok() ? absl::DataLossError("EOF inside the request") : n.status();
      co_return;
    }
    request.append(reinterpret_cast<const char*>(buf.filled().data()), buf.filled_size());
    buf.clear();
  }
  out->bytes = request.size();
  const std::string body = "hello from readbuf\n";
  const std::string response = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(),
                                            "\r\nConnection: close\r\n\r\n", body);
  if (absl::Status w = co_await tls->write_all(response); !w.ok()) {
    out->end = w;
    co_return;
  }
  out->end = co_await graceful_close(*tls, absl::Seconds(5));
}

class TlsClientsTest : public ::testing::TestWithParam<BackendKind> {};

// s_client sends a line, we echo it, s_client's stdin closes: it sends
// close_notify and we answer.
template <class Policy>
void SClientEcho(BackendKind backend, const std::string& openssl, Policy buf,
                 const std::vector<std::string>& extra) {
  SCOPED_TRACE(absl::StrCat(typeid(Policy).name(), " ", absl::StrJoin(extra, " ")));
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = backend});
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const int port = listener->local_addr()->port();
    Served served;
    JoinHandle<void> server = rt.spawn(ServeOneEcho(
        &*listener, ServerContext(Pki().good, {"h2", "http/1.1"}), std::move(buf), &served));
    std::vector<std::string> argv = {openssl,
                                     "s_client",
                                     "-connect",
                                     absl::StrCat("127.0.0.1:", port),
                                     "-servername",
                                     "localhost",
                                     "-CAfile",
                                     Pki().ca.cert_file,
                                     "-verify_return_error",
                                     "-alpn",
                                     "http/1.1",
                                     "-quiet",
                                     "-no_ign_eof"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::unique_ptr<Child> child = Child::Start(argv);
    ASSERT_NE(child, nullptr);
    const std::string line = "hello through TLS " + std::string(3000, 'z') + "\n";
    child->Write(line);
    const std::string out = child->ReadUntil(line, absl::Seconds(20));
    EXPECT_TRUE(absl::StrContains(out, line)) << out;
    child->CloseStdin();
    EXPECT_EQ(child->Wait(absl::Seconds(20)), 0) << child->output();
    EXPECT_TRUE(server.BlockingJoin().ok());
    EXPECT_TRUE(served.handshake.ok()) << served.handshake;
    EXPECT_EQ(served.alpn, "http/1.1");
    EXPECT_EQ(served.sni, "localhost");
    EXPECT_EQ(served.bytes, line.size());
    EXPECT_TRUE(served.end.ok()) << served.end;
    std::printf("[ s_client ] %s, %zu bytes echoed, end: %s\n", served.version.c_str(),
                served.bytes, served.end.ToString().c_str());
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsClientsTest, OpensslSClientEchoesWithEveryPolicy) {
  std::optional<std::string> openssl = FindOnPath("openssl");
  if (!openssl) GTEST_SKIP() << "openssl is not on PATH: install Debian's 'openssl' package";
  SClientEcho(GetParam(), *openssl, Zeroed(4096), {});
  SClientEcho(GetParam(), *openssl, Uninit(8192), {"-tls1_2"});
  SClientEcho(GetParam(), *openssl, Vectored<4>(4096), {});
  SClientEcho(GetParam(), *openssl, Dyn(8192), {"-tls1_2"});
  SClientEcho(GetParam(), *openssl, Pooled(128 * 1024), {});
  SClientEcho(GetParam(), *openssl, Pooled(128 * 1024), {"-tls1_2"});
}

TEST_P(TlsClientsTest, CurlFetchesAPage) {
  std::optional<std::string> curl = FindOnPath("curl");
  if (!curl) GTEST_SKIP() << "curl is not on PATH: install Debian's 'curl' package";
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const int port = listener->local_addr()->port();
    Served served;
    JoinHandle<void> server = rt.spawn(
        ServeOneHttp(&*listener, ServerContext(Pki().good, {"http/1.1"}), &served));
    std::unique_ptr<Child> child = Child::Start(
        {*curl, "-sS", "--max-time", "20", "--cacert", Pki().ca.cert_file, "--resolve",
         absl::StrCat("localhost:", port, ":127.0.0.1"),
         absl::StrCat("https://localhost:", port, "/hello")});
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(child->Wait(absl::Seconds(30)), 0) << child->output();
    EXPECT_EQ(child->output(), "hello from readbuf\n");
    EXPECT_TRUE(server.BlockingJoin().ok());
    EXPECT_TRUE(served.handshake.ok()) << served.handshake;
    EXPECT_EQ(served.alpn, "http/1.1");
    EXPECT_EQ(served.sni, "localhost");
    EXPECT_GT(served.bytes, 0u);
    EXPECT_TRUE(served.end.ok()) << served.end;
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(TlsClientsTest, CurlRefusesAWrongHostname) {
  std::optional<std::string> curl = FindOnPath("curl");
  if (!curl) GTEST_SKIP() << "curl is not on PATH: install Debian's 'curl' package";
  const int fds_before = CountOpenFds();
  {
    Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    absl::StatusOr<TcpListener> listener = TcpListener::bind(Loopback());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const int port = listener->local_addr()->port();
    Served served;
    JoinHandle<void> server = rt.spawn(
        ServeOneHttp(&*listener, ServerContext(Pki().good, {"http/1.1"}), &served));
    std::unique_ptr<Child> child = Child::Start(
        {*curl, "-sS", "--max-time", "20", "--cacert", Pki().ca.cert_file, "--resolve",
         absl::StrCat("wrong.example:", port, ":127.0.0.1"),
         absl::StrCat("https://wrong.example:", port, "/")});
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(child->Wait(absl::Seconds(30)), 60) << child->output();  // peer verification
    EXPECT_TRUE(server.BlockingJoin().ok());
    // With TLS 1.3 curl checks the name after the handshake's last flight,
    // so the server's handshake may succeed; its session still ends in an
    // error (an alert or a close without close_notify), never a request.
    EXPECT_TRUE(!served.handshake.ok() || !served.end.ok());
    EXPECT_EQ(served.bytes, 0u);
    std::printf("[ curl     ] %s[ server   ] handshake: %s; then: %s\n", child->output().c_str(),
                served.handshake.ToString().c_str(), served.end.ToString().c_str());
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsClientsTest, ::testing::ValuesIn(Backends()), BackendName);

}  // namespace
}  // namespace readbuf
