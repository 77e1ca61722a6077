// See alloc_counter_file.h.
#include "bench/harness/alloc_counter_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace readbuf::bench {

absl::StatusOr<AllocCounterFile> AllocCounterFile::Create() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = absl::StrCat(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp",
                                  "/readbuf_allocs_XXXXXX");
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("mkstemp(", path, ")"));
  path = name.data();
  if (ftruncate(fd, sizeof(uint64_t)) != 0) {
    const int e = errno;
    close(fd);
    unlink(path.c_str());
    return absl::ErrnoToStatus(e, absl::StrCat("ftruncate(", path, ")"));
  }
  void* p = mmap(nullptr, sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  close(fd);
  if (p == MAP_FAILED) {
    unlink(path.c_str());
    return absl::ErrnoToStatus(e, absl::StrCat("mmap(", path, ")"));
  }
  return AllocCounterFile(std::move(path), static_cast<const volatile uint64_t*>(p));
}

AllocCounterFile::AllocCounterFile(AllocCounterFile&& other) noexcept
    : path_(std::move(other.path_)), value_(std::exchange(other.value_, nullptr)) {}

AllocCounterFile::~AllocCounterFile() {
  if (value_ == nullptr) return;
  munmap(const_cast<uint64_t*>(value_), sizeof(uint64_t));
  unlink(path_.c_str());
}

uint64_t AllocCounterFile::Read() const {
  return __atomic_load_n(value_, __ATOMIC_RELAXED);
}

}  // namespace readbuf::bench
