// -----------------------------------------------------------------------------
// File: bench/tls_idle_rss.cc
// -----------------------------------------------------------------------------
//
// Resident memory per idle TLS connection, readbuf beside nginx in the same
// run: examples/echo_server --tls_cert/--tls_key with --policy=pooled and
// --policy=uninit, and Debian's nginx (nginx-light; `listen ssl`, 1 worker,
// config generated in a temporary directory), each given --connections
// handshaken, silent TLS connections from this process. See
// bench/harness/tls_idle.h for the method. A throw-away ECDSA P-256
// certificate is made at start (no key is committed).
//
//   ./bazelw run //bench:tls_idle_rss
//   ./bazelw run //bench:tls_idle_rss -- --connections=2000 --servers=pooled,nginx
//
// Prints one markdown table row per server and, when both are there, the
// ratio of readbuf pooled's bytes per connection to nginx's.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/harness/tls_idle.h"
#include "tests/testing/tls_certs.h"

ABSL_FLAG(int, connections, 10000, "Idle TLS connections per server (1..18000).");
ABSL_FLAG(int, warmup, 100, "Connections opened before the first RSS reading.");
ABSL_FLAG(std::string, servers, "pooled,uninit,nginx",
          "Comma-separated: readbuf echo_server policies (pooled, uninit, zeroed, vectored, "
          "dyn) and/or nginx.");
ABSL_FLAG(std::string, backend, "epoll", "readbuf's backend: epoll or uring.");
ABSL_FLAG(std::string, nginx, "/usr/sbin/nginx", "The nginx binary (Debian: nginx-light).");
ABSL_FLAG(int, server_cpu, 0, "CPU the server is pinned to (-1: none).");

namespace {

std::string RunfilesRoot(const char* argv0) {
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    return absl::StrCat(dir, "/com_github_readbuf_readbuf");
  }
  const std::string beside = absl::StrCat(argv0, ".runfiles/com_github_readbuf_readbuf");
  if (access(beside.c_str(), F_OK) == 0) return beside;
  return ".";  // `bazel run` starts us in the runfiles root
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Resident memory per idle TLS connection: readbuf vs nginx.");
  absl::ParseCommandLine(argc, argv);
  const std::string root = RunfilesRoot(argv[0]);
  char dir_template[] = "/tmp/readbuf-tls-bench.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  absl::StatusOr<readbuf::testing_tls::TestPki> pki = readbuf::testing_tls::MakeTestPki(dir);
  if (!pki.ok()) {
    std::fprintf(stderr, "tls_idle_rss: %s\n", pki.status().ToString().c_str());
    return 1;
  }
  readbuf::bench::TlsIdleOptions options;
  options.connections = absl::GetFlag(FLAGS_connections);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.cert_file = pki->good.cert_file;
  options.key_file = pki->good.key_file;
  options.backend = absl::GetFlag(FLAGS_backend);
  options.server_cpu = absl::GetFlag(FLAGS_server_cpu);

  std::printf("Idle TLS connections: %d per server (after %d warm-up), handshake done, no data\n\n",
              options.connections, options.warmup);
  std::printf("| server | protocol | RSS before | RSS after | bytes / idle connection | handshakes/s |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  std::map<std::string, double> per_conn;
  int failures = 0;
  for (absl::string_view server : absl::StrSplit(absl::GetFlag(FLAGS_servers), ',')) {
    absl::StatusOr<readbuf::bench::TlsIdleResult> r =
        server == "nginx"
            ? readbuf::bench::MeasureNginxTlsIdle(absl::GetFlag(FLAGS_nginx), options)
            : readbuf::bench::MeasureReadbufTlsIdle(absl::StrCat(root, "/examples/echo_server"),
                                                    std::string(server), options);
    if (!r.ok()) {
      std::printf("| %s | - | - | - | failed: %s | - |\n", std::string(server).c_str(),
                  r.status().ToString().c_str());
      ++failures;
      continue;
    }
    per_conn[std::string(server)] = r->bytes_per_connection;
    std::printf("| %s | %s | %.1f MiB | %.1f MiB | %.0f | %.0f |\n", r->server.c_str(),
                r->protocol.c_str(), r->rss_before / 1048576.0, r->rss_after / 1048576.0,
                r->bytes_per_connection, r->connections / r->handshake_seconds);
    std::fflush(stdout);
  }
  if (per_conn.count("pooled") && per_conn.count("nginx") && per_conn["nginx"] > 0) {
    std::printf("\nreadbuf pooled / nginx, bytes per idle TLS connection: %.2fx (goal <= 0.5x)\n",
                per_conn["pooled"] / per_conn["nginx"]);
  }
  return failures == 0 ? 0 : 1;
}
