// See file_reader.h.
#include "adapters/file_reader.h"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "buf/uninit_span.h"
#include "io/io_status.h"

namespace readbuf {

absl::StatusOr<size_t> FileReader::ReadInto(UninitSpan dst) {
  if (!pending_.ok()) return std::exchange(pending_, absl::OkStatus());
  if (dst.empty()) return 0;
  auto* out = static_cast<unsigned char*>(dst.write_ptr());
  size_t total = 0;
  while (total < dst.size()) {
    errno = 0;
    const size_t n = std::fread(out + total, 1, dst.size() - total, file_);
    total += n;
    if (total == dst.size()) break;
    if (std::feof(file_)) break;  // EOF: what we have (0 = EOF)
    if (!std::ferror(file_)) continue;
    const int error_number = errno;
    std::clearerr(file_);
    if (error_number == EINTR) continue;
    absl::Status error =
        (error_number == EAGAIN || error_number == EWOULDBLOCK)
            ? WouldBlockError()
            : adapters_internal::ErrnoError(error_number, "fread(FILE*)");
    if (total == 0) return error;
    if (!IsWouldBlock(error)) pending_ = std::move(error);
    break;
  }
  return total;
}

}  // namespace readbuf
