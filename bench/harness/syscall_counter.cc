// See syscall_counter.h.
#include "bench/harness/syscall_counter.h"

#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace readbuf::bench {
namespace {

constexpr char kTracefs[] = "/sys/kernel/tracing";

bool ReadTracepointId(const std::string& path, uint64_t* id) {
  std::ifstream in(path);
  return static_cast<bool>(in >> *id);
}

}  // namespace

absl::StatusOr<SyscallCounter> SyscallCounter::Attach(
    const std::vector<pid_t>& threads, const std::string& tracepoint) {
  const std::string id_path = absl::StrCat(kTracefs, "/events/", tracepoint, "/id");
  uint64_t id = 0;
  if (!ReadTracepointId(id_path, &id)) {
    // A fresh machine (or container) has tracefs unmounted; root can mount
    // it, as `mount -t tracefs nodev /sys/kernel/tracing` would.
    if (::geteuid() != 0) {
      return absl::UnavailableError(absl::StrCat(
          "tracefs is not mounted at ", kTracefs, " and mounting it needs root"));
    }
    if (::mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0 && errno != EBUSY) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("tracefs is not mounted, and mount(tracefs, ", kTracefs, ") failed"));
    }
    if (!ReadTracepointId(id_path, &id)) {
      return absl::UnavailableError(
          absl::StrCat("cannot read ", id_path, " (tracefs mounted; no such tracepoint?)"));
    }
  }
  SyscallCounter counter;
  for (pid_t tid : threads) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = id;
    const int fd = static_cast<int>(
        syscall(SYS_perf_event_open, &attr, tid, /*cpu=*/-1, /*group_fd=*/-1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("perf_event_open(", tracepoint, ", tid=", tid,
                              ") (needs root or perf_event_paranoid <= 1)"));
    }
    counter.fds_.push_back(fd);
  }
  return counter;
}

SyscallCounter::~SyscallCounter() {
  for (int fd : fds_) close(fd);
}

uint64_t SyscallCounter::Read() const {
  uint64_t total = 0;
  for (int fd : fds_) {
    uint64_t value = 0;
    if (read(fd, &value, sizeof(value)) == sizeof(value)) total += value;
  }
  return total;
}

}  // namespace readbuf::bench
