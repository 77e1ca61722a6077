// -----------------------------------------------------------------------------
// File: bench/harness/server_process.h
// -----------------------------------------------------------------------------
//
// ServerProcess runs an echo server under test as a child process, pinned to
// one CPU, and reads what the benchmarks report about it from /proc: CPU time
// (all threads), resident memory. The server must print "listening <port>"
// as its first line on stdout once it accepts connections (readbuf's
// examples/echo_server and the peers in bench/peers do).
//
// Example:
//
//   auto server = ServerProcess::Start({.argv = {path, "--port=0"}, .cpu = 0});
//   if (!server.ok()) ...;
//   double cpu_before = *(*server)->CpuSeconds();
//   ... drive load at (*server)->port() ...
//   absl::Status stopped = (*server)->Stop();   // SIGTERM, then SIGKILL

#ifndef READBUF_BENCH_HARNESS_SERVER_PROCESS_H_
#define READBUF_BENCH_HARNESS_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace readbuf::bench {

class ServerProcess {
 public:
  struct Options {
    std::vector<std::string> argv;  // argv[0] is the program path
    int cpu = -1;                   // pin to this CPU; -1 = no pinning
    std::vector<std::string> env;   // "KEY=VALUE" added to this process's environment
    absl::Duration start_timeout = absl::Seconds(10);
  };

  // Starts the server and waits for its "listening <port>" line.
  // Errors: the program could not start, exited, or did not announce a port
  // within start_timeout (its stderr is left to the terminal).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const Options& options);

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();  // Stop(), ignoring the result

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // User + system CPU seconds of all the server's threads so far.
  absl::StatusOr<double> CpuSeconds() const;
  // Resident set size (VmRSS).
  absl::StatusOr<size_t> RssBytes() const;
  // The thread ids of the server now.
  std::vector<pid_t> Threads() const;

  // SIGTERM, wait up to `grace`, then SIGKILL. OK if the server exited with
  // status 0 on SIGTERM. Idempotent.
  absl::Status Stop(absl::Duration grace = absl::Seconds(5));

 private:
  ServerProcess(pid_t pid, int port) : pid_(pid), port_(port) {}

  pid_t pid_;
  int port_;
  int stdout_fd_ = -1;  // read end of the server's stdout; it must not write much more
  bool stopped_ = false;
};

// User + system CPU seconds of process `pid` (all its threads), and its
// resident set size (VmRSS), from /proc. Any process, not only a
// ServerProcess (nginx's, say).
absl::StatusOr<double> ProcessCpuSeconds(pid_t pid);
absl::StatusOr<size_t> ProcessRssBytes(pid_t pid);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_SERVER_PROCESS_H_
