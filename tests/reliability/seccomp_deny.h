// -----------------------------------------------------------------------------
// File: tests/reliability/seccomp_deny.h
// -----------------------------------------------------------------------------
//
// DenySyscall(nr, err): installs a seccomp filter on the calling process that
// makes system call `nr` fail with errno `err` from then on, to inject a
// kernel that lacks or forbids it (io_uring_setup denied by a container
// profile, epoll_pwait2 missing before Linux 5.11). Irreversible: a test
// binary that uses it should hold only tests that want the same filter.

#ifndef READBUF_TESTS_RELIABILITY_SECCOMP_DENY_H_
#define READBUF_TESTS_RELIABILITY_SECCOMP_DENY_H_

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "absl/status/status.h"

namespace readbuf {
namespace reliability {

#if defined(__x86_64__)
inline constexpr unsigned kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
inline constexpr unsigned kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp_deny.h: add this architecture's AUDIT_ARCH_*"
#endif

// Thread safety: call before starting threads that should see the filter
// (threads created later inherit it; existing ones do not).
inline absl::Status DenySyscall(long nr, int err) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0]));
  prog.filter = filter;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return absl::ErrnoToStatus(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
  }
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    return absl::ErrnoToStatus(errno, "prctl(PR_SET_SECCOMP)");
  }
  return absl::OkStatus();
}

}  // namespace reliability
}  // namespace readbuf

#endif  // READBUF_TESTS_RELIABILITY_SECCOMP_DENY_H_
