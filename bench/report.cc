// -----------------------------------------------------------------------------
// File: bench/report.cc
// -----------------------------------------------------------------------------
//
// //bench:report, the README's main job: what each read-buffer policy costs
// on this machine, end to end over readbuf's reactor, beside the peers. For
// every selected server -- examples/echo_server as <policy>-<backend> for
// zeroed, uninit, vectored, dyn and pooled on epoll and io_uring, pooled on
// the callback API (callback-<backend>), the io_uring provided-buffer ring
// (uring-uring), and the peers Asio eager, Asio deferred and libuv from
// bench/peers -- it runs the echo workloads (idle connections, ping-pong
// 64 B and 1 KiB over 50 connections and 64 B over 1,000, stream 64 KiB
// over 4, ping-pong over TLS on the servers with TLS), each against a fresh
// server process pinned to CPU 0 while this program, the load generator,
// runs on CPU 1. Then the HTTP workloads (bench/harness/http_suite.h) on
// examples/http_server as <policy>-<backend> and on nginx (Debian's
// nginx-light, 1 process, from a generated config): wrk -t1 -c50 with one
// request per write (http-keepalive) or 16 (http-pipelined), idle keep-alive
// connections (http-idle), and over TLS with a certificate made for the run
// (https-keepalive, tls-idle); wrk runs on CPU 1. Progress goes to stderr; a
// markdown table (ratios against asio-eager, or nginx for HTTP) to stdout;
// the raw results to JSON (report_json.h) and a chart to SVG
// (report_svg.h). --help explains every column. Without wrk or nginx the
// report says so once and runs the rest. Exit status: 0, 1 if a run failed,
// 2 on bad flags.
//
//   ./bazelw run //bench:report                      # ~6 min
//   ./bazelw run //bench:report -- --quick           # < 30 s, CI smoke
//   ./bazelw run //bench:report -- --workloads=idle --policies=pooled,uring
//   ./bazelw run //bench:report -- --workloads=http-keepalive --peers=

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"  // linked by absl/flags:flag
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness/echo_suite.h"
#include "bench/harness/http_suite.h"
#include "bench/report_json.h"
#include "bench/report_micro.h"
#include "bench/report_run.h"
#include "bench/report_svg.h"
#include "bench/report_table.h"
#include "tests/testing/tls_certs.h"

ABSL_FLAG(bool, quick, false,
          "Smoke test (< 30 s): 0.15 s per ping-pong/stream run, 0.3 s per wrk run, at "
          "most 200 idle connections, and the HTTP workloads only on the pooled policy "
          "(or the first one selected) per backend and nginx; results go to /tmp unless "
          "--json_out/--svg_out say otherwise. The figures are not meaningful.");
ABSL_FLAG(std::string, workloads,
          "idle,pingpong-64B,pingpong-1KiB,pingpong-64B-1000c,stream-64KiB,tls-pingpong-64B,"
          "http-keepalive,http-pipelined,http-idle,https-keepalive,tls-idle",
          "Comma-separated workloads: idle (--idle_connections silent connections, each "
          "echoed once), pingpong-64B and pingpong-1KiB (50 connections, one message "
          "in flight each), pingpong-64B-1000c (the same over 1,000 connections: where "
          "the io_uring ring's batching should pay), stream-64KiB (4 connections writing "
          "64 KiB chunks), tls-pingpong-64B (pingpong-64B over TLS, on the servers "
          "with TLS); and on "
          "examples/http_server (every selected policy but uring and callback) and nginx: "
          "http-keepalive (wrk -t1 -c50, one GET / per write), http-pipelined (the "
          "same, 16 GET / per write), http-idle (--idle_connections keep-alive "
          "connections, each after one GET /); over TLS (http_server --tls_cert, nginx "
          "listen ssl, a certificate made for the run): https-keepalive (as "
          "http-keepalive), tls-idle (--idle_connections connections, each silent after "
          "its handshake).");
ABSL_FLAG(std::string, policies, "zeroed,uninit,vectored,dyn,pooled,callback,uring",
          "Comma-separated readbuf policies to run (examples/echo_server --policy): "
          "zeroed, uninit, vectored, dyn, pooled, callback (pooled on the callback "
          "API: --policy=pooled --api=callback, no coroutine per connection; echo "
          "workloads only), uring (the io_uring provided-buffer ring; runs on the "
          "uring backend only). Empty: none.");
ABSL_FLAG(std::string, backends, "epoll,uring",
          "Comma-separated readbuf backends for the policies: epoll, uring.");
ABSL_FLAG(std::string, peers, "asio-eager,asio-deferred,libuv",
          "Comma-separated peer servers: asio-eager, asio-deferred, libuv. Empty: none. "
          "Ratios are taken against asio-eager, so without it they show '-'.");
ABSL_FLAG(std::string, servers, "",
          "Exact comma-separated server list, overriding --policies/--backends/--peers: "
          "<policy>-<backend> (e.g. pooled-epoll, uring-uring) or a peer name.");
ABSL_FLAG(int, idle_connections, 10000,
          "Connections for the idle workload. Scaled down, with a note, when the "
          "open-file limit or the local port range cannot hold them.");
ABSL_FLAG(double, duration, 2.0,
          "Seconds each ping-pong/stream/wrk run measures (wrk: whole seconds, or "
          "stopped with SIGINT).");
ABSL_FLAG(std::string, wrk, "/usr/bin/wrk",
          "wrk, for http-keepalive and http-pipelined (Debian's wrk; ./bazelw installs it).");
ABSL_FLAG(std::string, nginx, "/usr/sbin/nginx",
          "nginx, the HTTP baseline (Debian's nginx-light; ./bazelw installs it). Empty: "
          "no nginx rows.");
ABSL_FLAG(std::string, json_out, "",
          "Where to write the raw results as JSON. Default: under `bazel run`, "
          "<workspace>/bench/results/report.json (or /tmp/readbuf_report_quick.json "
          "with --quick); otherwise /tmp/readbuf_report.json.");
ABSL_FLAG(std::string, svg_out, "",
          "Where to write the SVG chart. Default: beside the JSON, report.svg.");
ABSL_FLAG(bool, count_allocs, true,
          "LD_PRELOAD bench/harness/alloc_count_preload.so into the servers to count "
          "their heap allocations (allocs/op). false: allocs/op is n/a.");
ABSL_FLAG(bool, micro, false,
          "Also run the micro-benchmarks (read_buf_benchmark, buffer_pool_benchmark) "
          "first and print their tables and goal ratios.");
ABSL_FLAG(double, min_time, 0.3, "With --micro: seconds per micro-benchmark case.");
ABSL_FLAG(std::string, filter, "",
          "With --micro: only cases matching this regex (--benchmark_filter).");
ABSL_FLAG(std::string, json_dir, "",
          "With --micro: keep each micro-benchmark binary's raw JSON in this directory.");

namespace {

using readbuf::bench::HttpServerSpec;
using readbuf::bench::HttpWorkload;
using readbuf::bench::Measurement;
using readbuf::bench::ReportFailure;
using readbuf::bench::ReportRun;
using readbuf::bench::ServerSpec;
using readbuf::bench::Workload;

constexpr const char* kPolicies[] = {"zeroed", "uninit",   "vectored", "dyn",
                                     "pooled", "callback", "uring"};

// examples/echo_server's flags for a report policy: "callback" is the pooled
// policy on the callback API (io/callback_connection.h).
std::vector<std::string> PolicyFlags(const std::string& policy) {
  if (policy == "callback") return {"--policy=pooled", "--api=callback"};
  return {absl::StrCat("--policy=", policy)};
}

// The HTTP server serves every policy but the ring and the callback API.
bool HttpServes(const std::string& policy) { return policy != "uring" && policy != "callback"; }
constexpr const char* kBackends[] = {"epoll", "uring"};
constexpr const char* kPeers[] = {"asio-eager", "asio-deferred", "libuv"};

const std::string& Usage() {
  static const std::string* usage = new std::string(absl::StrCat(
      "Runs readbuf's echo server with every read-buffer policy beside Asio and libuv\n"
      "echo servers on loopback, and its HTTP server beside nginx under wrk, and\n"
      "prints what each costs.\n"
      "Usage: bazel run //bench:report -- [--quick] [--workloads=...] [--policies=...]\n"
      "         [--backends=...] [--peers=...] [--servers=...] [--idle_connections=N]\n"
      "         [--duration=S] [--json_out=PATH] [--svg_out=PATH] [--micro]\n"
      "         [--wrk=PATH] [--nginx=PATH]\n"
      "Each (server, workload) gets a fresh server process pinned to CPU 0; the load\n"
      "generator runs on CPU 1. Ports are picked by the kernel (--port=0), so a port\n"
      "in use cannot collide.\n\n",
      readbuf::bench::kReportColumnHelp));
  return *usage;
}

int BadFlag(const std::string& problem) {
  std::fprintf(stderr, "report: %s\nSee --help.\n", problem.c_str());
  return 2;
}

// Abseil's parser exits with status 1 on an unknown flag or a bad value;
// the report promises 2. So look at every flag first: the name must exist and
// the value must parse (ParseFrom sets the same value ParseCommandLine will).
// Returns the problem, or "" if there is none.
std::string CheckFlags(int argc, char** argv) {
  static const std::set<std::string> kAbseilOwn = {
      "help", "helpfull", "helpshort", "helppackage", "helpon", "helpmatch", "version",
      "only_check_args", "flagfile", "fromenv", "tryfromenv", "undefok"};
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "-")) continue;  // positional: reported later
    absl::ConsumePrefix(&arg, "-");
    const size_t eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    if (kAbseilOwn.count(name)) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no")) {  // --noquick
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>() && eq == absl::string_view::npos) continue;
      flag = nullptr;
    }
    if (flag == nullptr) return absl::StrCat("unknown flag --", name);
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::StrCat("missing value for --", name);
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::StrCat("bad value '", value, "' for --", name, ": ", error);
    }
  }
  return "";
}

std::string RunfilesRoot(const char* argv0) {
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    return absl::StrCat(dir, "/com_github_readbuf_readbuf");
  }
  const std::string beside = absl::StrCat(argv0, ".runfiles/com_github_readbuf_readbuf");
  if (access(beside.c_str(), F_OK) == 0) return beside;
  return ".";  // `bazel run` starts us in the runfiles root
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "model name" from /proc/cpuinfo, core count, kernel release.
std::string Machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      model = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  utsname u{};
  uname(&u);
  return absl::StrCat(model, ", ", std::thread::hardware_concurrency(), " CPUs, Linux ",
                      u.release);
}

// Local ports available for outgoing connections (ip_local_port_range).
int LocalPortCount() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0, hi = 0;
  if (!(in >> lo >> hi) || hi < lo) return 1 << 30;
  return hi - lo + 1;
}

bool MakeParentDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

bool WriteFile(const std::string& path, const std::string& text) {
  if (!MakeParentDirs(path)) return false;
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// A rough, self-correcting estimate of how long the remaining runs take.
class TimeLeft {
 public:
  TimeLeft(double duration, int idle_connections)
      : active_(duration + 0.4), idle_(1.0 + idle_connections * 1.5e-4) {}
  void Record(bool idle, double seconds) {
    double& mean = idle ? idle_ : active_;
    int& n = idle ? idle_runs_ : active_runs_;
    mean = n == 0 ? seconds : (mean * n + seconds) / (n + 1);
    ++n;
  }
  double Estimate(int active_left, int idle_left) const {
    return active_left * active_ + idle_left * idle_;
  }

 private:
  double active_, idle_;
  int active_runs_ = 0, idle_runs_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(Usage());
  if (std::string problem = CheckFlags(argc, argv); !problem.empty()) return BadFlag(problem);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return BadFlag(absl::StrCat("unexpected argument '", positional[1], "'"));
  }
  const bool quick = absl::GetFlag(FLAGS_quick);
  const double duration = quick ? 0.15 : absl::GetFlag(FLAGS_duration);
  int idle_n = absl::GetFlag(FLAGS_idle_connections);
  if (!(duration > 0 && duration <= 600)) return BadFlag("--duration must be in (0, 600] seconds");
  if (idle_n < 1) return BadFlag("--idle_connections must be at least 1");
  if (quick) idle_n = std::min(idle_n, 200);
  if (absl::GetFlag(FLAGS_min_time) <= 0) return BadFlag("--min_time must be positive");

  ReportRun run;
  run.quick = quick;
  run.duration_seconds = duration;
  run.machine = Machine();
  run.generated = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());

  // Servers.
  const std::string root = RunfilesRoot(argv[0]);
  const std::string echo_server = absl::StrCat(root, "/examples/echo_server");
  std::map<std::string, ServerSpec> known;
  for (const char* policy : kPolicies) {
    for (const char* backend : kBackends) {
      if (std::string(policy) == "uring" && std::string(backend) != "uring") continue;
      const std::string name = absl::StrCat(policy, "-", backend);
      std::vector<std::string> argv = {echo_server};
      for (std::string& flag : PolicyFlags(policy)) argv.push_back(std::move(flag));
      argv.push_back(absl::StrCat("--backend=", backend));
      argv.push_back("--threads=1");
      known[name] = {name, std::move(argv), true, "", {}};
    }
  }
  const std::string asio = absl::StrCat(root, "/bench/peers/asio_echo_server");
  known["asio-eager"] = {"asio-eager", {asio, "--mode=eager"}, false, "", {}};
  known["asio-deferred"] = {"asio-deferred", {asio, "--mode=deferred"}, false, "", {}};
  known["libuv"] = {"libuv", {absl::StrCat(root, "/bench/peers/libuv_echo_server")}, false, "", {}};
  // The HTTP servers.
  const std::string http_server = absl::StrCat(root, "/examples/http_server");
  const std::string nginx_path = absl::GetFlag(FLAGS_nginx);
  const std::string wrk_path = absl::GetFlag(FLAGS_wrk);
  std::map<std::string, HttpServerSpec> http_known;
  for (const char* policy : kPolicies) {
    if (!HttpServes(policy)) continue;
    for (const char* backend : kBackends) {
      const std::string name = absl::StrCat(policy, "-", backend);
      http_known[name] = {name,
                          HttpServerSpec::Kind::kReadbuf,
                          {http_server, absl::StrCat("--policy=", policy),
                           absl::StrCat("--backend=", backend)}};
    }
  }
  http_known[readbuf::bench::kHttpBaselineServer] = {
      readbuf::bench::kHttpBaselineServer, HttpServerSpec::Kind::kNginx, {nginx_path}};

  std::vector<std::string> server_names;  // echo servers
  std::vector<std::string> http_names;    // HTTP servers
  if (!absl::GetFlag(FLAGS_servers).empty()) {
    for (const std::string& name : SplitList(absl::GetFlag(FLAGS_servers))) {
      if (!known.count(name) && !http_known.count(name)) {
        std::vector<std::string> names;
        for (const auto& [k, v] : known) names.push_back(k);
        names.push_back(readbuf::bench::kHttpBaselineServer);
        return BadFlag(absl::StrCat("unknown server '", name, "'; known: ",
                                    absl::StrJoin(names, ",")));
      }
      if (Contains(server_names, name) || Contains(http_names, name)) {
        return BadFlag(absl::StrCat("server '", name, "' given twice"));
      }
      if (known.count(name)) server_names.push_back(name);
      if (http_known.count(name)) http_names.push_back(name);
    }
  } else {
    const std::vector<std::string> policies = SplitList(absl::GetFlag(FLAGS_policies));
    const std::vector<std::string> backends = SplitList(absl::GetFlag(FLAGS_backends));
    for (const std::string& p : policies) {
      if (std::find(std::begin(kPolicies), std::end(kPolicies), p) == std::end(kPolicies)) {
        return BadFlag(absl::StrCat("unknown policy '", p, "' in --policies; known: ",
                                    absl::StrJoin(kPolicies, ",")));
      }
    }
    for (const std::string& b : backends) {
      if (std::find(std::begin(kBackends), std::end(kBackends), b) == std::end(kBackends)) {
        return BadFlag(absl::StrCat("unknown backend '", b, "' in --backends; known: ",
                                    absl::StrJoin(kBackends, ",")));
      }
    }
    for (const char* b : kBackends) {  // grouped by backend, as in the chart
      if (!Contains(backends, b)) continue;
      for (const char* p : kPolicies) {
        if (!Contains(policies, p)) continue;
        if (std::string(p) == "uring" && std::string(b) != "uring") continue;
        server_names.push_back(absl::StrCat(p, "-", b));
        if (HttpServes(p)) http_names.push_back(absl::StrCat(p, "-", b));
      }
    }
    if (Contains(policies, "uring") && !Contains(backends, "uring")) {
      run.notes.push_back("policy uring runs on the uring backend only, which --backends left out");
    }
    for (const std::string& peer : SplitList(absl::GetFlag(FLAGS_peers))) {
      if (std::find(std::begin(kPeers), std::end(kPeers), peer) == std::end(kPeers)) {
        return BadFlag(absl::StrCat("unknown peer '", peer, "' in --peers; known: ",
                                    absl::StrJoin(kPeers, ",")));
      }
      server_names.push_back(peer);
    }
    if (!nginx_path.empty()) http_names.push_back(readbuf::bench::kHttpBaselineServer);
  }

  // Workloads.
  const absl::Duration settle = absl::Milliseconds(quick ? 100 : 500);
  const std::map<std::string, Workload> workloads = {
      {"idle", {"idle", Workload::Kind::kIdle, 0, 0, settle}},
      {"pingpong-64B", {"pingpong-64B", Workload::Kind::kPingPong, 50, 64, settle}},
      {"pingpong-1KiB", {"pingpong-1KiB", Workload::Kind::kPingPong, 50, 1024, settle}},
      {"pingpong-64B-1000c",
       {"pingpong-64B-1000c", Workload::Kind::kPingPong, 1000, 64, settle}},
      {"stream-64KiB", {"stream-64KiB", Workload::Kind::kStream, 4, 64 * 1024, settle}},
      {"tls-pingpong-64B",
       {"tls-pingpong-64B", Workload::Kind::kPingPong, 50, 64, settle, /*tls=*/true}},
  };
  const std::map<std::string, HttpWorkload> http_workloads = {
      {"http-keepalive", {"http-keepalive", HttpWorkload::Kind::kKeepAlive, 50, 1, settle}},
      {"http-pipelined", {"http-pipelined", HttpWorkload::Kind::kPipelined, 50, 16, settle}},
      {"http-idle", {"http-idle", HttpWorkload::Kind::kIdle, 0, 1, settle}},
      {"https-keepalive",
       {"https-keepalive", HttpWorkload::Kind::kKeepAlive, 50, 1, settle, /*tls=*/true}},
      {"tls-idle", {"tls-idle", HttpWorkload::Kind::kIdle, 0, 1, settle, /*tls=*/true}},
  };
  std::set<std::string> seen_workloads;
  for (const std::string& name : SplitList(absl::GetFlag(FLAGS_workloads))) {
    if (!seen_workloads.insert(name).second) {
      return BadFlag(absl::StrCat("workload '", name, "' given twice"));
    }
    if (auto it = workloads.find(name); it != workloads.end()) {
      run.workloads.push_back(it->second);
    } else if (auto h = http_workloads.find(name); h != http_workloads.end()) {
      run.http_workloads.push_back(h->second);
    } else {
      return BadFlag(absl::StrCat("unknown workload '", name,
                                  "' in --workloads; known: idle,pingpong-64B,pingpong-1KiB,"
                                  "pingpong-64B-1000c,stream-64KiB,tls-pingpong-64B,"
                                  "http-keepalive,http-pipelined,http-idle,https-keepalive,"
                                  "tls-idle"));
    }
  }
  if (run.workloads.empty() && run.http_workloads.empty()) {
    return BadFlag("--workloads selects nothing");
  }
  if (!run.workloads.empty() && server_names.empty()) {
    return BadFlag("no echo servers selected (--policies/--peers/--servers)");
  }
  if (!run.http_workloads.empty() && http_names.empty()) {
    return BadFlag(
        "no HTTP servers selected (--policies other than uring and callback, --nginx, --servers)");
  }
  if (run.workloads.empty()) server_names.clear();
  if (run.http_workloads.empty()) http_names.clear();
  if (quick && !http_names.empty()) {
    // The smoke keeps HTTP short: one policy per backend (pooled if selected)
    // and nginx.
    std::vector<std::string> kept;
    for (const char* b : kBackends) {
      std::string pick;
      for (const std::string& name : http_names) {
        if (!absl::EndsWith(name, absl::StrCat("-", b))) continue;
        if (pick.empty() || absl::StartsWith(name, "pooled-")) pick = name;
      }
      if (!pick.empty()) kept.push_back(pick);
    }
    if (Contains(http_names, readbuf::bench::kHttpBaselineServer)) {
      kept.push_back(readbuf::bench::kHttpBaselineServer);
    }
    http_names = kept;
  }
  // wrk and nginx are Debian packages (./bazelw installs them); without
  // them the report says so once and runs the rest.
  if (!run.http_workloads.empty()) {
    const bool wants_wrk =
        std::any_of(run.http_workloads.begin(), run.http_workloads.end(),
                    [](const HttpWorkload& w) { return w.kind != HttpWorkload::Kind::kIdle; });
    if (wants_wrk && access(wrk_path.c_str(), X_OK) != 0) {
      run.notes.push_back(absl::StrCat("wrk not found at ", wrk_path,
                                       ": http-keepalive and http-pipelined were not run "
                                       "(install Debian's wrk; ./bazelw does)"));
      run.http_workloads.erase(
          std::remove_if(run.http_workloads.begin(), run.http_workloads.end(),
                         [](const HttpWorkload& w) { return w.kind != HttpWorkload::Kind::kIdle; }),
          run.http_workloads.end());
    }
    if (Contains(http_names, readbuf::bench::kHttpBaselineServer) &&
        access(nginx_path.c_str(), X_OK) != 0) {
      run.notes.push_back(absl::StrCat("nginx not found at ", nginx_path,
                                       ": the HTTP workloads ran without it (install Debian's "
                                       "nginx-light; ./bazelw does)"));
      http_names.erase(std::remove(http_names.begin(), http_names.end(),
                                   readbuf::bench::kHttpBaselineServer),
                       http_names.end());
    }
    if (http_names.empty()) run.http_workloads.clear();
    if (run.http_workloads.empty()) http_names.clear();
  }

  // Limits for the idle workload: our fds (one per connection) and the local
  // port range (one port per connection).
  bool has_idle = false;
  std::string idle_row_note;  // on every idle row when N was scaled down
  for (const Workload& w : run.workloads) has_idle |= w.kind == Workload::Kind::kIdle;
  for (const HttpWorkload& w : run.http_workloads) has_idle |= w.kind == HttpWorkload::Kind::kIdle;
  if (has_idle) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;  // servers inherit the raised limit
      setrlimit(RLIMIT_NOFILE, &limit);
      getrlimit(RLIMIT_NOFILE, &limit);
    }
    const long fd_room = static_cast<long>(std::min<rlim_t>(limit.rlim_cur, 1 << 30)) - 128;
    const int port_room = LocalPortCount() - 512;
    const int asked = idle_n;
    bool scaled = false;
    if (idle_n > fd_room) {
      scaled = true;
      idle_n = static_cast<int>(std::max(1L, fd_room));
      run.notes.push_back(absl::StrCat("idle: open-file limit is ", limit.rlim_cur,
                                       " (hard limit too); scaled N from ", asked, " to ", idle_n,
                                       ". Raise it with `ulimit -n` for the full run."));
    }
    if (idle_n > port_room) {
      scaled = true;
      const int before = idle_n;
      idle_n = std::max(1, port_room);
      run.notes.push_back(absl::StrCat("idle: only ", LocalPortCount(),
                                       " local ports (ip_local_port_range); scaled N from ",
                                       before, " to ", idle_n, "."));
    }
    if (scaled) idle_row_note = absl::StrCat("scaled from ", asked, " (see notes)");
  }
  run.idle_connections = idle_n;
  for (Workload& w : run.workloads) {
    if (w.kind == Workload::Kind::kIdle) w.connections = idle_n;
  }
  for (HttpWorkload& w : run.http_workloads) {
    if (w.kind == HttpWorkload::Kind::kIdle) w.connections = idle_n;
  }

  const std::string preload = absl::StrCat(root, "/bench/harness/alloc_count_preload.so");
  if (absl::GetFlag(FLAGS_count_allocs)) {
    if (access(preload.c_str(), R_OK) == 0) {
      for (auto& [name, spec] : known) spec.alloc_preload = preload;
    } else {
      run.notes.push_back(absl::StrCat("allocs/op is n/a: ", preload, " not found"));
    }
  }
  for (const std::string& name : server_names) run.servers.push_back(name);
  run.http_servers = http_names;
  const double http_duration = quick ? 0.3 : absl::GetFlag(FLAGS_duration);
  run.http_duration_seconds = run.http_workloads.empty() ? 0 : http_duration;
  for (const std::string& n : run.notes) std::fprintf(stderr, "report: NOTE: %s\n", n.c_str());

  // Output paths.
  std::string json_out = absl::GetFlag(FLAGS_json_out);
  std::string svg_out = absl::GetFlag(FLAGS_svg_out);
  if (json_out.empty()) {
    const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    if (quick) {
      json_out = "/tmp/readbuf_report_quick.json";
    } else if (ws != nullptr && *ws != '\0') {
      json_out = absl::StrCat(ws, "/bench/results/report.json");
    } else {
      json_out = "/tmp/readbuf_report.json";
    }
  }
  if (svg_out.empty()) {
    svg_out = absl::StrCat(json_out.substr(0, json_out.rfind('.')), ".svg");
    if (svg_out == json_out) svg_out += ".svg";
  }

  // Pinning: server on CPU 0, load generator on CPU 1, when there are two.
  const bool pin = std::thread::hardware_concurrency() >= 2;
  run.pinning = pin ? "server on CPU 0, load generator on CPU 1"
                    : "one CPU: server and load generator share it (not pinned)";
  if (pin) readbuf::bench::PinThisThread(1);

  std::printf("# readbuf report%s\n\n", quick ? " (--quick: smoke test, not figures)" : "");
  std::printf("%s; %s; %s. Each run: a fresh server process; %.2f s per ping-pong/stream "
              "run%s. `--help` explains the columns.\n",
              run.machine.c_str(), run.generated.c_str(), run.pinning.c_str(), duration,
              run.http_workloads.empty()
                  ? ""
                  : absl::StrFormat(", %.2f s per wrk run", http_duration).c_str());
#ifndef NDEBUG
  std::printf("\nNOTE: built without NDEBUG; `bazel run` uses --config=opt for real figures.\n");
#endif
  std::fflush(stdout);

  int failures = 0;
  if (absl::GetFlag(FLAGS_micro)) {
    readbuf::bench::MicroOptions micro;
    micro.runfiles_root = root;
    micro.min_time = quick ? 0.002 : absl::GetFlag(FLAGS_min_time);
    micro.filter = absl::GetFlag(FLAGS_filter);
    micro.json_dir = absl::GetFlag(FLAGS_json_dir);
    std::printf("\n## Micro-benchmarks\n");
    failures += readbuf::bench::RunMicroBenchmarks(micro);
    std::printf("\n## Echo servers\n");
    std::fflush(stdout);
  }

  // A temporary directory for wrk's Lua script and the TLS workloads'
  // certificate (made for this run, never committed).
  std::string scratch;
  const bool wants_tls =
      std::any_of(run.workloads.begin(), run.workloads.end(),
                  [](const Workload& w) { return w.tls; }) ||
      std::any_of(run.http_workloads.begin(), run.http_workloads.end(),
                  [](const HttpWorkload& w) { return w.tls; });
  if (!run.http_workloads.empty() || wants_tls) {
    char scratch_template[] = "/tmp/readbuf-report.XXXXXX";
    if (mkdtemp(scratch_template) != nullptr) {
      scratch = scratch_template;
    } else {
      std::fprintf(stderr, "report: mkdtemp: %s\n", strerror(errno));
      scratch = "/tmp";
    }
  }
  readbuf::bench::HttpRunOptions http_options;
  if (wants_tls) {
    absl::StatusOr<readbuf::testing_tls::TestPki> pki =
        readbuf::testing_tls::MakeTestPki(scratch);
    if (pki.ok()) {
      http_options.tls_cert = pki->good.cert_file;
      http_options.tls_key = pki->good.key_file;
      for (auto& [name, spec] : known) {
        if (!spec.has_stats_file) continue;  // peers: no TLS
        const std::string policy = name.substr(0, name.find('-'));
        if (policy == "uring" || policy == "callback") continue;
        spec.tls_flags = {absl::StrCat("--tls_cert=", pki->good.cert_file),
                          absl::StrCat("--tls_key=", pki->good.key_file)};
      }
    } else {
      std::fprintf(stderr, "report: no TLS certificate: %s\n", pki.status().ToString().c_str());
    }
  }
  // The echo servers a workload runs on: a TLS workload only on those with
  // TLS; the rest are listed as skipped, with one note.
  auto servers_for = [&](const Workload& w) {
    if (!w.tls) return server_names;
    std::vector<std::string> with_tls;
    for (const std::string& name : server_names) {
      if (!known[name].tls_flags.empty()) with_tls.push_back(name);
    }
    return with_tls;
  };
  for (const Workload& w : run.workloads) {
    if (!w.tls) continue;
    std::vector<std::string> without;
    for (const std::string& name : server_names) {
      if (known[name].tls_flags.empty()) {
        without.push_back(name);
        run.skipped.push_back({name, w.name, "no TLS"});
      }
    }
    if (!without.empty()) {
      run.notes.push_back(absl::StrCat(w.name, " runs on readbuf's TLS servers only; not on ",
                                       absl::StrJoin(without, ", "), " (no TLS)"));
    }
  }

  // The runs, workload by workload.
  TimeLeft time_left(duration, idle_n);
  int active_left = 0, idle_left = 0;
  for (const Workload& w : run.workloads) {
    (w.kind == Workload::Kind::kIdle ? idle_left : active_left) +=
        static_cast<int>(servers_for(w).size());
  }
  for (const HttpWorkload& w : run.http_workloads) {
    (w.kind == HttpWorkload::Kind::kIdle ? idle_left : active_left) +=
        static_cast<int>(http_names.size());
  }
  const int total = active_left + idle_left;
  const absl::Time start = absl::Now();
  int done = 0;
  // Runs one (server, workload) pair: progress on stderr, then the result
  // or the failure into `run`.
  auto measure = [&](const std::string& server, const std::string& workload, bool idle,
                     const auto& run_one) {
    std::fprintf(stderr, "report: [%d/%d] %s on %s (%.0f s elapsed, about %.0f s left)\n",
                 done + 1, total, workload.c_str(), server.c_str(),
                 absl::ToDoubleSeconds(absl::Now() - start),
                 time_left.Estimate(active_left, idle_left));
    const absl::Time t0 = absl::Now();
    absl::StatusOr<Measurement> m = run_one();
    time_left.Record(idle, absl::ToDoubleSeconds(absl::Now() - t0));
    (idle ? idle_left : active_left) -= 1;
    ++done;
    if (!m.ok()) {
      std::fprintf(stderr, "report: %s on %s failed: %s\n", workload.c_str(), server.c_str(),
                   m.status().ToString().c_str());
      run.failures.push_back({server, workload, m.status().ToString()});
      ++failures;
      return;
    }
    if (idle && !idle_row_note.empty()) {
      m->note = m->note.empty() ? idle_row_note : absl::StrCat(idle_row_note, "; ", m->note);
    }
    run.results.push_back(*std::move(m));
  };
  for (const Workload& w : run.workloads) {
    const bool idle = w.kind == Workload::Kind::kIdle;
    for (const std::string& name : servers_for(w)) {
      measure(name, w.name, idle, [&] {
        return readbuf::bench::RunEchoWorkload(known[name], w, absl::Seconds(duration),
                                               pin ? 0 : -1);
      });
    }
  }

  // The HTTP workloads.
  http_options.wrk = wrk_path;
  http_options.duration = absl::Seconds(http_duration);
  http_options.server_cpu = pin ? 0 : -1;
  http_options.client_cpu = pin ? 1 : -1;
  for (const HttpWorkload& w : run.http_workloads) {
    const bool idle = w.kind == HttpWorkload::Kind::kIdle;
    for (const std::string& name : http_names) {
      measure(name, w.name, idle, [&] {
        return readbuf::bench::RunHttpWorkload(http_known[name], w, http_options, scratch);
      });
    }
  }
  if (!scratch.empty() && scratch != "/tmp") {
    std::error_code ignored;  // the wrk script and the run's certificate
    std::filesystem::remove_all(scratch, ignored);
  }
  std::fprintf(stderr, "report: %d runs in %.0f s\n", total,
               absl::ToDoubleSeconds(absl::Now() - start));
  readbuf::bench::NoteUnavailableSyscalls(run);

  std::printf("%s", readbuf::bench::ReportMarkdown(run).c_str());
  if (!WriteFile(json_out, readbuf::bench::ReportJson(run))) {
    std::fprintf(stderr, "report: cannot write %s: %s\n", json_out.c_str(), strerror(errno));
    ++failures;
  }
  if (!WriteFile(svg_out, readbuf::bench::ReportSvg(run))) {
    std::fprintf(stderr, "report: cannot write %s: %s\n", svg_out.c_str(), strerror(errno));
    ++failures;
  }
  std::printf("\nRaw results: %s\nChart: %s\n", json_out.c_str(), svg_out.c_str());
  std::fprintf(stderr, "report: wrote %s and %s\n", json_out.c_str(), svg_out.c_str());
  return failures == 0 ? 0 : 1;
}
