// -----------------------------------------------------------------------------
// File: examples/checksum_file.cc
// -----------------------------------------------------------------------------
//
// Reads a file (or stdin) through a ReadBuf policy chosen on the command line
// and prints the byte count, an FNV-1a checksum, and how many bytes the
// policy zeroed. The reading code is one template; only the policy type
// changes, which is the point of readbuf.
//
//   ./bazelw run //examples:checksum_file -- --policy=uninit /etc/os-release
//   ./bazelw run //examples:checksum_file -- --policy=zeroed < some.file

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"

ABSL_FLAG(std::string, policy, "uninit",
          "Buffer policy: zeroed, uninit, vectored, dyn or pooled.");
ABSL_FLAG(int, buffer_size, 64 * 1024, "Buffer capacity in bytes (> 0).");

namespace {

struct Summary {
  uint64_t bytes = 0;
  uint64_t fnv1a = 14695981039346656037ull;
  uint64_t zeroed_bytes = 0;
};

// Reads `fd` to EOF through `buf`. The same code for every policy.
template <readbuf::ReadBuf Buf>
absl::StatusOr<Summary> Checksum(int fd, Buf buf) {
  Summary summary;
  for (;;) {
    if (absl::Status s = readbuf::read_buf_traits<Buf>::prepare(buf, 0); !s.ok()) {
      return s;
    }
    ssize_t n;
    if constexpr (readbuf::VectoredReadBuf<Buf>) {
      iovec iov[16];
      const size_t count = buf.unfilled_iovecs(iov);
      n = ::readv(fd, iov, static_cast<int>(count));
    } else {
      readbuf::UninitSpan dst = buf.unfilled();
      n = ::read(fd, dst.write_ptr(), dst.size());
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "read");
    if (n == 0) break;  // EOF
    buf.advance(static_cast<size_t>(n));
    readbuf::for_each_filled(buf, [&](std::span<const std::byte> s) {
      for (std::byte b : s) {
        summary.fnv1a = (summary.fnv1a ^ static_cast<uint8_t>(b)) * 1099511628211ull;
      }
      summary.bytes += s.size();
    });
    buf.clear();
    readbuf::read_buf_traits<Buf>::release_idle(buf);
  }
  if constexpr (requires { buf.zeroed_bytes(); }) summary.zeroed_bytes = buf.zeroed_bytes();
  return summary;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Checksums a file through the chosen ReadBuf policy.\n"
      "Usage: checksum_file [--policy=zeroed|uninit|vectored|dyn|pooled] "
      "[--buffer_size=N] [FILE]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 2) {
    std::fprintf(stderr, "checksum_file: give at most one FILE; see --help\n");
    return 2;
  }
  const int size = absl::GetFlag(FLAGS_buffer_size);
  if (size <= 0) {
    std::fprintf(stderr, "checksum_file: --buffer_size must be > 0\n");
    return 2;
  }
  int fd = STDIN_FILENO;
  if (args.size() == 2) {
    fd = ::open(args[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "checksum_file: %s\n",
                   absl::ErrnoToStatus(errno, args[1]).ToString().c_str());
      return 1;
    }
  }
  const std::string policy = absl::GetFlag(FLAGS_policy);
  const auto capacity = static_cast<size_t>(size);
  absl::StatusOr<Summary> summary;
  if (policy == "zeroed") {
    summary = Checksum(fd, readbuf::Zeroed(capacity));
  } else if (policy == "uninit") {
    summary = Checksum(fd, readbuf::Uninit(capacity));
  } else if (policy == "vectored") {
    summary = Checksum(fd, readbuf::Vectored<4>(capacity));
  } else if (policy == "dyn") {
    summary = Checksum(fd, readbuf::Dyn(capacity));
  } else if (policy == "pooled") {
    summary = Checksum(fd, readbuf::Pooled(capacity));
  } else {
    std::fprintf(stderr,
                 "checksum_file: unknown --policy=%s (zeroed, uninit, vectored, "
                 "dyn or pooled)\n",
                 policy.c_str());
    return 2;
  }
  if (!summary.ok()) {
    std::fprintf(stderr, "checksum_file: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  std::printf("policy=%s bytes=%llu fnv1a=%016llx zeroed_by_adapter=%llu\n",
              policy.c_str(), static_cast<unsigned long long>(summary->bytes),
              static_cast<unsigned long long>(summary->fnv1a),
              static_cast<unsigned long long>(summary->zeroed_bytes));
  return 0;
}
