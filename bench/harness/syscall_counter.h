// -----------------------------------------------------------------------------
// File: bench/harness/syscall_counter.h
// -----------------------------------------------------------------------------
//
// SyscallCounter counts the system calls another process's threads make,
// with the kernel's tracepoints through perf_event_open(2) (the same counter
// `perf stat -e raw_syscalls:sys_enter -p PID` reads): no ptrace, and no
// slowdown of the process measured. It can also count one syscall, e.g.
// "syscalls/sys_enter_io_uring_enter".
//
// Example:
//
//   auto counter = SyscallCounter::Attach(server->Threads());
//   ... load ...
//   uint64_t syscalls = counter->Read();
//
// Needs root or perf_event_paranoid <= 1, and tracefs at /sys/kernel/tracing.
// As root, Attach() mounts tracefs there if it is not mounted (a fresh
// machine or container); otherwise it says which is missing.

#ifndef READBUF_BENCH_HARNESS_SYSCALL_COUNTER_H_
#define READBUF_BENCH_HARNESS_SYSCALL_COUNTER_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace readbuf::bench {

class SyscallCounter {
 public:
  // Counts `tracepoint` (a path under /sys/kernel/tracing/events) for each
  // thread in `threads`. Threads created later are not counted.
  static absl::StatusOr<SyscallCounter> Attach(
      const std::vector<pid_t>& threads,
      const std::string& tracepoint = "raw_syscalls/sys_enter");

  SyscallCounter(SyscallCounter&& other) noexcept : fds_(std::move(other.fds_)) {
    other.fds_.clear();
  }
  SyscallCounter& operator=(SyscallCounter&&) = delete;
  ~SyscallCounter();

  // Events counted since Attach(), summed over the threads.
  uint64_t Read() const;

 private:
  SyscallCounter() = default;
  std::vector<int> fds_;
};

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_SYSCALL_COUNTER_H_
