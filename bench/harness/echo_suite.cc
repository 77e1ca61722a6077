// See echo_suite.h.
#include "bench/harness/echo_suite.h"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/alloc_counter_file.h"
#include "bench/harness/kernel_slab.h"
#include "bench/harness/loadgen.h"
#include "bench/harness/server_process.h"
#include "bench/harness/server_stats.h"
#include "bench/harness/syscall_counter.h"

namespace readbuf::bench {
namespace {

constexpr absl::Duration kStatsTimeout = absl::Seconds(10);

void AppendNote(std::string& note, const std::string& more) {
  if (more.empty()) return;
  absl::StrAppend(&note, note.empty() ? "" : "; ", more);
}

// A stats-file path no other run uses.
std::string StatsPath() {
  static std::atomic<int> next{0};
  const char* tmpdir = std::getenv("TMPDIR");
  return absl::StrCat(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp", "/readbuf_stats_", getpid(),
                      "_", next.fetch_add(1), ".txt");
}

// What a run reads from the server before and after the load.
struct Snapshot {
  uint64_t allocs = 0;
  std::optional<ServerStats> stats;
};

uint64_t Stat(const std::optional<ServerStats>& stats, const char* key) {
  if (!stats) return 0;
  auto it = stats->find(key);
  return it == stats->end() ? 0 : it->second;
}

}  // namespace

void PinThisThread(int cpu) {
  if (cpu < 0 || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

absl::StatusOr<Measurement> RunEchoWorkload(const ServerSpec& spec, const Workload& workload,
                                            absl::Duration duration, int server_cpu) {
  if (workload.tls && (workload.kind != Workload::Kind::kPingPong || spec.tls_flags.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        workload.name, " on ", spec.name,
        ": TLS runs ping-pong only, on a server with tls_flags"));
  }
  ServerProcess::Options options;
  options.argv = spec.argv;
  options.argv.push_back("--port=0");
  if (workload.tls) {
    options.argv.insert(options.argv.end(), spec.tls_flags.begin(), spec.tls_flags.end());
  }
  options.cpu = server_cpu;
  std::optional<AllocCounterFile> allocs;
  if (!spec.alloc_preload.empty()) {
    absl::StatusOr<AllocCounterFile> file = AllocCounterFile::Create();
    if (!file.ok()) return file.status();
    allocs.emplace(*std::move(file));
    options.env = {absl::StrCat("LD_PRELOAD=", spec.alloc_preload),
                   absl::StrCat("READBUF_ALLOC_COUNTER_FILE=", allocs->path())};
  }
  const std::string stats_path = spec.has_stats_file ? StatsPath() : "";
  if (spec.has_stats_file) options.argv.push_back(absl::StrCat("--stats_file=", stats_path));
  struct RemoveStats {
    std::string path;
    ~RemoveStats() {
      if (!path.empty()) unlink(path.c_str());
    }
  } remove_stats{stats_path};

  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  if (!server.ok()) return server.status();
  Measurement m;
  m.server = spec.name;
  m.workload = workload.name;
  m.connections = workload.connections;
  const int port = (*server)->port();

  // Allocation count and pool stats, read outside the measured window.
  auto snapshot = [&]() -> absl::StatusOr<Snapshot> {
    Snapshot s;
    if (spec.has_stats_file) {
      absl::StatusOr<ServerStats> st =
          RequestServerStats((*server)->pid(), stats_path, SIGUSR1, kStatsTimeout);
      if (!st.ok()) return st.status();
      s.stats = *std::move(st);
    }
    if (allocs) s.allocs = allocs->Read();
    return s;
  };
  // Heap allocations between two snapshots: malloc-family calls plus pool
  // blocks taken from mimalloc directly.
  auto allocations = [&](const Snapshot& a, const Snapshot& b) {
    return static_cast<double>(b.allocs - a.allocs) +
           static_cast<double>(Stat(b.stats, "pool_misses") - Stat(a.stats, "pool_misses"));
  };
  auto stop = [&]() -> absl::Status {
    if (absl::Status s = (*server)->Stop(); !s.ok()) {
      return absl::InternalError(absl::StrCat(spec.name, " did not stop cleanly: ", s.message()));
    }
    return absl::OkStatus();
  };

  if (workload.kind == Workload::Kind::kIdle) {
    // Both ends live on this machine: the server's fds and ours count against
    // separate per-process limits; ours must hold N plus a few.
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
      getrlimit(RLIMIT_NOFILE, &limit);
    }
    const int usable = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 30)) - 64;
    if (m.connections > usable) {
      m.note = absl::StrCat("scaled from ", m.connections, " to ", usable,
                            " connections (open-file limit ", limit.rlim_cur, ")");
      m.connections = usable;
    }
    absl::SleepFor(workload.settle / 2);  // let the server settle before the baseline
    absl::StatusOr<size_t> before = (*server)->RssBytes();
    if (!before.ok()) return before.status();
    absl::StatusOr<Snapshot> snap_before = snapshot();
    if (!snap_before.ok()) return snap_before.status();
    const absl::StatusOr<uint64_t> slab_before = KernelSlabBytes();
    absl::StatusOr<IdleConnections> idle = IdleConnections::Open(port, m.connections);
    if (!idle.ok()) return idle.status();
    if (absl::Status s = idle->EchoOnce(absl::Seconds(30)); !s.ok()) return s;
    absl::SleepFor(workload.settle);  // let every server finish its post-echo bookkeeping
    absl::StatusOr<size_t> after = (*server)->RssBytes();
    if (!after.ok()) return after.status();
    const absl::StatusOr<uint64_t> slab_after = KernelSlabBytes();
    if (slab_before.ok() && slab_after.ok()) {
      m.kernel_slab_bytes_per_connection =
          (static_cast<double>(*slab_after) - static_cast<double>(*slab_before)) /
          m.connections;
    }
    absl::StatusOr<Snapshot> snap_after = snapshot();
    if (!snap_after.ok()) return snap_after.status();
    const double n = m.connections;
    const double delta = static_cast<double>(*after) - static_cast<double>(*before);
    m.rss_bytes_per_connection = delta / n;
    if (allocs) m.allocs_per_op = allocations(*snap_before, *snap_after) / n;
    if (snap_after->stats) {
      m.server_stats = *snap_after->stats;
      // The io_uring ring's registered buffers are a per-core constant that
      // no connection holds (a connection holds a block only once data came
      // and until it is read): reported in the note, not per connection.
      const uint64_t ring = Stat(snap_after->stats, "ring_bytes_registered");
      const uint64_t pool = Stat(snap_after->stats, "pool_bytes_in_use");
      m.buffer_bytes_per_connection =
          static_cast<double>((pool > ring ? pool - ring : 0) +
                              Stat(snap_after->stats, "conn_owned_buffer_bytes")) /
          n;
      if (ring != 0) {
        AppendNote(m.note, absl::StrCat("plus the ring's ", ring / 1024,
                                        " KiB registered per server, shared by all connections"));
      }
      const uint64_t served = Stat(snap_after->stats, "connections");
      if (served != static_cast<uint64_t>(m.connections)) {
        AppendNote(m.note, absl::StrCat("server counted ", served, " connections"));
      }
    }
    idle->Close();  // before the server stops: no grace period to wait out
    if (absl::Status s = stop(); !s.ok()) return s;
    return m;
  }

  absl::StatusOr<Snapshot> snap_before = snapshot();
  if (!snap_before.ok()) return snap_before.status();
  absl::StatusOr<SyscallCounter> syscalls = SyscallCounter::Attach((*server)->Threads());
  absl::StatusOr<double> cpu_before = (*server)->CpuSeconds();
  if (!cpu_before.ok()) return cpu_before.status();
  const uint64_t syscalls_before = syscalls.ok() ? syscalls->Read() : 0;
  const uint64_t allocs_before = allocs ? allocs->Read() : 0;
  absl::StatusOr<LoadResult> load =
      workload.kind == Workload::Kind::kPingPong
          ? RunPingPong(port, workload.connections, workload.message_size, duration, workload.tls)
          : RunStream(port, workload.connections, workload.message_size, duration);
  if (!load.ok()) return load.status();
  const uint64_t allocs_after = allocs ? allocs->Read() : 0;
  const uint64_t syscalls_after = syscalls.ok() ? syscalls->Read() : 0;
  absl::StatusOr<double> cpu_after = (*server)->CpuSeconds();
  if (!cpu_after.ok()) return cpu_after.status();
  absl::StatusOr<Snapshot> snap_after = snapshot();
  if (!snap_after.ok()) return snap_after.status();
  const double ops = static_cast<double>(std::max<uint64_t>(load->ops, 1));
  m.ops_per_second = static_cast<double>(load->ops) / load->seconds;
  m.mib_per_second = static_cast<double>(load->bytes) / load->seconds / (1024.0 * 1024.0);
  m.p50_us = load->p50_us;
  m.p99_us = load->p99_us;
  m.server_cpu_us_per_op = (*cpu_after - *cpu_before) * 1e6 / ops;
  if (syscalls.ok()) {
    m.syscalls_per_op = static_cast<double>(syscalls_after - syscalls_before) / ops;
  } else {
    m.syscalls_unavailable = std::string(syscalls.status().message());
  }
  if (allocs) {
    // Only the load window for malloc calls; pool misses from the stats
    // lines around it (the stats requests themselves take no pool blocks).
    Snapshot a = *snap_before, b = *snap_after;
    a.allocs = allocs_before;
    b.allocs = allocs_after;
    m.allocs_per_op = allocations(a, b) / ops;
  }
  if (snap_after->stats) m.server_stats = *snap_after->stats;
  if (absl::Status s = stop(); !s.ok()) return s;
  return m;
}

}  // namespace readbuf::bench
