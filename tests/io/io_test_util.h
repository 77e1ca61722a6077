// Shared helpers for the io/ tests: backend parameterisation (the suites
// that run on every backend) and fd counting.

#ifndef READBUF_TESTS_IO_IO_TEST_UTIL_H_
#define READBUF_TESTS_IO_IO_TEST_UTIL_H_

#include <dirent.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/runtime.h"

namespace readbuf {
namespace testing_io {

// Every backend this build can run; each parameterised suite runs over all.
inline std::vector<BackendKind> AllBackends() {
  return {BackendKind::kEpoll, BackendKind::kUring};
}

inline std::string BackendName(
    const ::testing::TestParamInfo<BackendKind>& info) {
  switch (info.param) {
    case BackendKind::kEpoll:
      return "epoll";
    case BackendKind::kUring:
      return "uring";
    case BackendKind::kAuto:
      return "auto";
  }
  return "unknown";
}

// Fixture of a suite that runs on every backend (instantiate it over
// AllBackends(), named by BackendName): Options() is a runtime on the backend
// under test, with `cores` cores (kDefaultCores unless given).
template <int kDefaultCores>
class BackendSuite : public ::testing::TestWithParam<BackendKind> {
 protected:
  RuntimeOptions Options(int cores = kDefaultCores) const {
    return RuntimeOptions{.n_cores = cores, .backend = GetParam()};
  }
};

// Number of open file descriptors of this process.
inline int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

}  // namespace testing_io
}  // namespace readbuf

#endif  // READBUF_TESTS_IO_IO_TEST_UTIL_H_
