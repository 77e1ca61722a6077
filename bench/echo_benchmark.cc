// -----------------------------------------------------------------------------
// File: bench/echo_benchmark.cc
// -----------------------------------------------------------------------------
//
// Echo servers side by side on loopback, in one run: readbuf's (when built)
// and the peers in bench/peers (Asio eager, Asio deferred, libuv). The server
// runs pinned to CPU 0 as a separate process; this program is the load
// generator, pinned to CPU 1. Prints one markdown table per workload with
// ratios against Asio eager. See bench/harness/echo_suite.h for what is
// measured and how.
//
//   ./bazelw run //bench:echo_benchmark
//   ./bazelw run //bench:echo_benchmark -- --workloads=idle --idle_connections=10000

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
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/harness/echo_suite.h"

ABSL_FLAG(std::string, servers,
          "readbuf-uninit-epoll,readbuf-pooled-epoll,readbuf-pooled-uring,readbuf-ring-uring,"
          "asio-eager,asio-deferred,libuv",
          "Comma-separated servers: readbuf-<policy>-<backend> (policy: zeroed, "
          "uninit, vectored, dyn, pooled; backend: epoll, uring), readbuf-ring-uring "
          "(io_uring provided-buffer ring), asio-eager, asio-deferred, libuv.");
ABSL_FLAG(std::string, workloads, "pingpong-64B,pingpong-1KiB,stream-64KiB,idle",
          "Comma-separated workloads: pingpong-64B, pingpong-1KiB, stream-64KiB, idle.");
ABSL_FLAG(double, duration, 3.0, "Seconds per ping-pong/stream run.");
ABSL_FLAG(int, idle_connections, 10000, "Connections for the idle workload.");
ABSL_FLAG(bool, quick, false, "0.3 s runs and 500 idle connections (smoke test).");

namespace {

using readbuf::bench::Measurement;
using readbuf::bench::ServerSpec;
using readbuf::bench::Workload;

std::string Runfile(const char* argv0, const std::string& path) {
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    return absl::StrCat(dir, "/com_github_readbuf_readbuf/", path);
  }
  const std::string beside = absl::StrCat(argv0, ".runfiles/com_github_readbuf_readbuf/", path);
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return path;
}

std::string Ratio(double v) { return absl::StrFormat("%.2fx", v); }
std::string Fixed2(double v) { return absl::StrFormat("%.2f", v); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs echo servers side by side on loopback and prints markdown tables.\n"
      "Usage: echo_benchmark [--servers=...] [--workloads=...] [--duration=S]");
  absl::ParseCommandLine(argc, argv);
  const bool quick = absl::GetFlag(FLAGS_quick);
  const absl::Duration duration = absl::Seconds(quick ? 0.3 : absl::GetFlag(FLAGS_duration));
  const int idle_n = quick ? 500 : absl::GetFlag(FLAGS_idle_connections);

  std::map<std::string, ServerSpec> known = {
      {"asio-eager",
       {"asio-eager", {Runfile(argv[0], "bench/peers/asio_echo_server"), "--mode=eager"}, false, "", {}}},
      {"asio-deferred",
       {"asio-deferred", {Runfile(argv[0], "bench/peers/asio_echo_server"), "--mode=deferred"}, false, "", {}}},
      {"libuv", {"libuv", {Runfile(argv[0], "bench/peers/libuv_echo_server")}, false, "", {}}},
  };
  // The io_uring provided-buffer ring (pooled_read on a ring core).
  known["readbuf-ring-uring"] = {"readbuf-ring-uring",
                                 {Runfile(argv[0], "examples/echo_server"), "--policy=uring",
                                  "--backend=uring", "--threads=1"},
                                 true,
                                 "",
                                 {}};
  // Callback connections (io/callback_connection.h): no task per connection.
  for (const char* backend : {"epoll", "uring"}) {
    const std::string name = absl::StrCat("readbuf-callback-", backend);
    known[name] = {name,
                   {Runfile(argv[0], "examples/echo_server"), "--api=callback", "--policy=pooled",
                    absl::StrCat("--backend=", backend), "--threads=1"},
                   true,
                   "",
                   {}};
  }
  for (const char* policy : {"zeroed", "uninit", "vectored", "dyn", "pooled"}) {
    for (const char* backend : {"epoll", "uring"}) {
      const std::string name = absl::StrCat("readbuf-", policy, "-", backend);
      known[name] = {name,
                     {Runfile(argv[0], "examples/echo_server"), absl::StrCat("--policy=", policy),
                      absl::StrCat("--backend=", backend), "--threads=1"},
                     true,
                     "",
                     {}};
    }
  }
  const std::map<std::string, Workload> workloads = {
      {"pingpong-64B",
       {"pingpong-64B", Workload::Kind::kPingPong, 50, 64, absl::Milliseconds(500)}},
      {"pingpong-1KiB",
       {"pingpong-1KiB", Workload::Kind::kPingPong, 50, 1024, absl::Milliseconds(500)}},
      {"stream-64KiB",
       {"stream-64KiB", Workload::Kind::kStream, 4, 64 * 1024, absl::Milliseconds(500)}},
      {"idle", {"idle", Workload::Kind::kIdle, idle_n, 0, absl::Milliseconds(500)}},
  };
  std::vector<ServerSpec> servers;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_servers), ',')) {
    auto it = known.find(std::string(name));
    if (it == known.end()) {
      std::fprintf(stderr, "echo_benchmark: unknown server '%s'\n", std::string(name).c_str());
      return 2;
    }
    servers.push_back(it->second);
  }
  std::vector<Workload> chosen;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',')) {
    auto it = workloads.find(std::string(name));
    if (it == workloads.end()) {
      std::fprintf(stderr, "echo_benchmark: unknown workload '%s'\n", std::string(name).c_str());
      return 2;
    }
    chosen.push_back(it->second);
  }

  readbuf::bench::PinThisThread(1);
  int failures = 0;
  for (const Workload& w : chosen) {
    std::vector<Measurement> rows;
    for (const ServerSpec& s : servers) {
      std::fprintf(stderr, "echo_benchmark: %s on %s ...\n", w.name.c_str(), s.name.c_str());
      absl::StatusOr<Measurement> m = readbuf::bench::RunEchoWorkload(s, w, duration, 0);
      if (!m.ok()) {
        std::fprintf(stderr, "echo_benchmark: %s / %s: %s\n", s.name.c_str(), w.name.c_str(),
                     m.status().ToString().c_str());
        ++failures;
        continue;
      }
      rows.push_back(*m);
    }
    const Measurement* base = nullptr;
    for (const Measurement& m : rows) {
      if (m.server == "asio-eager") base = &m;
    }
    std::printf("\n### %s\n\n", w.name.c_str());
    if (w.kind == Workload::Kind::kIdle) {
      std::printf("| server | connections | RSS per connection | vs asio-eager | note |\n"
                  "|---|---:|---:|---:|---|\n");
      for (const Measurement& m : rows) {
        std::printf("| %s | %d | %.0f B | %s | %s |\n", m.server.c_str(), m.connections,
                    *m.rss_bytes_per_connection,
                    base ? Ratio(*m.rss_bytes_per_connection / *base->rss_bytes_per_connection)
                               .c_str()
                         : "",
                    m.note.c_str());
      }
      continue;
    }
    std::printf("| server | ops/s | MiB/s | p50 µs | p99 µs | server CPU µs/op | syscalls/op | "
                "CPU/op vs asio-eager | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (const Measurement& m : rows) {
      std::printf("| %s | %.0f | %.1f | %.1f | %.1f | %.2f | %s | %s | %s |\n", m.server.c_str(),
                  m.ops_per_second, m.mib_per_second, m.p50_us, m.p99_us,
                  m.server_cpu_us_per_op,
                  m.syscalls_per_op ? Fixed2(*m.syscalls_per_op).c_str() : "n/a",
                  base && base->server_cpu_us_per_op > 0
                      ? Ratio(m.server_cpu_us_per_op / base->server_cpu_us_per_op).c_str()
                      : "",
                  m.note.c_str());
    }
  }
  return failures == 0 ? 0 : 1;
}
