// See echo_suite.h.
#include "bench/harness/echo_suite.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/loadgen.h"
#include "bench/harness/server_process.h"
#include "bench/harness/syscall_counter.h"

namespace readbuf::bench {

void PinThisThread(int cpu) {
  if (cpu < 0 || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

absl::StatusOr<Measurement> RunEchoWorkload(const ServerSpec& spec, const Workload& workload,
                                            absl::Duration duration, int server_cpu) {
  ServerProcess::Options options;
  options.argv = spec.argv;
  options.argv.push_back("--port=0");
  options.cpu = server_cpu;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  if (!server.ok()) return server.status();
  Measurement m;
  m.server = spec.name;
  m.workload = workload.name;
  m.connections = workload.connections;
  const int port = (*server)->port();

  if (workload.kind == Workload::Kind::kIdle) {
    // Both ends live on this machine: the server's fds and ours count against
    // separate per-process limits; ours must hold N plus a few.
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    const int usable = static_cast<int>(limit.rlim_cur) - 64;
    if (m.connections > usable) {
      m.note = absl::StrCat("scaled from ", m.connections, " to ", usable,
                            " connections (open-file limit ", limit.rlim_cur, ")");
      m.connections = usable;
    }
    usleep(200 * 1000);  // let the server settle before the baseline
    absl::StatusOr<size_t> before = (*server)->RssBytes();
    if (!before.ok()) return before.status();
    absl::StatusOr<IdleConnections> idle = IdleConnections::Open(port, m.connections);
    if (!idle.ok()) return idle.status();
    if (absl::Status s = idle->EchoOnce(absl::Seconds(30)); !s.ok()) return s;
    usleep(500 * 1000);  // let every server finish its post-echo bookkeeping
    absl::StatusOr<size_t> after = (*server)->RssBytes();
    if (!after.ok()) return after.status();
    const double delta = static_cast<double>(*after) - static_cast<double>(*before);
    m.rss_bytes_per_connection = delta / m.connections;
    if (absl::Status s = (*server)->Stop(); !s.ok()) {
      return absl::InternalError(absl::StrCat(spec.name, " did not stop cleanly: ", s.message()));
    }
    return m;
  }

  absl::StatusOr<SyscallCounter> syscalls = SyscallCounter::Attach((*server)->Threads());
  absl::StatusOr<double> cpu_before = (*server)->CpuSeconds();
  if (!cpu_before.ok()) return cpu_before.status();
  const uint64_t syscalls_before = syscalls.ok() ? syscalls->Read() : 0;
  absl::StatusOr<LoadResult> load =
      workload.kind == Workload::Kind::kPingPong
          ? RunPingPong(port, workload.connections, workload.message_size, duration)
          : RunStream(port, workload.connections, workload.message_size, duration);
  if (!load.ok()) return load.status();
  absl::StatusOr<double> cpu_after = (*server)->CpuSeconds();
  if (!cpu_after.ok()) return cpu_after.status();
  const double ops = static_cast<double>(std::max<uint64_t>(load->ops, 1));
  m.ops_per_second = static_cast<double>(load->ops) / load->seconds;
  m.mib_per_second = static_cast<double>(load->bytes) / load->seconds / (1024.0 * 1024.0);
  m.p50_us = load->p50_us;
  m.p99_us = load->p99_us;
  m.server_cpu_us_per_op = (*cpu_after - *cpu_before) * 1e6 / ops;
  if (syscalls.ok()) {
    m.syscalls_per_op = static_cast<double>(syscalls->Read() - syscalls_before) / ops;
  } else {
    m.note = std::string(syscalls.status().message());
  }
  if (absl::Status s = (*server)->Stop(); !s.ok()) {
    return absl::InternalError(absl::StrCat(spec.name, " did not stop cleanly: ", s.message()));
  }
  return m;
}

}  // namespace readbuf::bench
