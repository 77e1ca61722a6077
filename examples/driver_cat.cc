// -----------------------------------------------------------------------------
// File: examples/driver_cat.cc
// -----------------------------------------------------------------------------
//
// cat(1) on readbuf's completion driver (io/driver.h), without the runtime:
// reads the file named on the command line with ReadAt operations, a batch
// of 8 chunks per submit_and_wait(), and writes the chunks to stdout in
// order. The backend is io_uring unless READBUF_BACKEND=epoll (or io_uring
// is unavailable); each chunk's buffer lives until its completion is reaped.
//
//   ./bazelw run //examples:driver_cat -- /etc/os-release

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "buf/uninit.h"
#include "io/driver.h"

namespace {

constexpr std::size_t kBatch = 8;
constexpr std::size_t kChunk = 64 * 1024;

bool WriteAll(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "driver_cat: open(%s): %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  absl::StatusOr<readbuf::Driver> driver =
      readbuf::Driver::Create(readbuf::DriverOptions{.entries = kBatch});
  if (!driver.ok()) {
    std::fprintf(stderr, "driver_cat: %s\n", driver.status().ToString().c_str());
    return 1;
  }
  std::vector<readbuf::Uninit> chunks;
  for (std::size_t i = 0; i < kBatch; ++i) chunks.emplace_back(kChunk);
  std::uint64_t offset = 0;
  std::vector<readbuf::driver::Entry> batch;
  batch.reserve(kBatch);
  for (bool eof = false; !eof;) {
    // One batch: chunk i reads [offset + i * kChunk, + kChunk).
    batch.clear();
    for (std::size_t i = 0; i < kBatch; ++i) {
      chunks[i].clear();
      batch.push_back({readbuf::driver::ReadAt{fd, chunks[i], offset + i * kChunk}, i});
    }
    if (absl::Status pushed = driver->push_batch(batch); !pushed.ok()) {
      std::fprintf(stderr, "driver_cat: %s\n", pushed.ToString().c_str());
      return 1;
    }
    std::int32_t results[kBatch];
    std::size_t done = 0;
    while (done < kBatch) {
      readbuf::driver::Completion c[kBatch];
      const std::size_t n = driver->submit_and_wait(std::nullopt, c);
      for (std::size_t i = 0; i < n; ++i) results[c[i].user_data] = c[i].result;
      done += n;
    }
    for (std::size_t i = 0; i < kBatch && !eof; ++i) {
      if (results[i] < 0) {
        std::fprintf(stderr, "driver_cat: read(%s): %s\n", argv[1], std::strerror(-results[i]));
        return 1;
      }
      if (!WriteAll(STDOUT_FILENO, chunks[i].filled())) {
        std::fprintf(stderr, "driver_cat: write(stdout): %s\n", std::strerror(errno));
        return 1;
      }
      // A short chunk is the end of the file (a regular file reads whole
      // chunks until then).
      eof = static_cast<std::size_t>(results[i]) < kChunk;
    }
    offset += kBatch * kChunk;
  }
  ::close(fd);
  return 0;
}
