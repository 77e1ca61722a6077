// -----------------------------------------------------------------------------
// File: adapters/file_reader.h
// -----------------------------------------------------------------------------
//
// FileReader: a C `FILE*` as a readbuf reader: read(span) and read_buf(b).
// fread(3) only writes its destination, so read_buf hands it the buffer's
// unfilled, possibly uninitialized memory (nothing is zeroed), and fills a
// vectored buffer's segments in order while each one fills completely.
//
// fread blocks until the request is met or the stream ends, as stdio does;
// the stdio buffer (not this adapter) holds what was read ahead. EINTR is
// retried. On a FILE* over a non-blocking fd, EAGAIN becomes
// WouldBlockError(). Other errors: absl::ErrnoToStatus(errno,
// "fread(FILE*)"), with the errno kept (adapters/internal/errno_status.h);
// bytes read before an error are returned first, the error by the next call.
// EOF is 0 bytes.
//
// Copies: 0 by this adapter (stdio's own buffering copies once, as it
// always does). Zeroes: never. The FILE* is borrowed, not closed.
//
// Example:
//
//   FILE* f = std::fopen("data.bin", "rb");
//   readbuf::FileReader reader(f);
//   readbuf::Uninit buf(64 * 1024);
//   absl::StatusOr<size_t> n = reader.read_buf(buf);

#ifndef READBUF_ADAPTERS_FILE_READER_H_
#define READBUF_ADAPTERS_FILE_READER_H_

#include <cstddef>
#include <cstdio>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"

namespace readbuf {

// FileReader
//
// Thread safety: as the FILE* (stdio locks each call; interleaving two
// readers of one FILE* is the caller's problem).
class FileReader {
 public:
  static constexpr std::string_view kName = "FileReader";
  static constexpr std::string_view kHeader = "adapters/file_reader.h";
  static constexpr std::string_view kFrom = "C `FILE*`";
  static constexpr std::string_view kTo = "`read`, `read_buf`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "fread straight into the buffer (stdio's own buffer copies, as always); "
      "EINTR retried";

  // REQUIRES: `file` is open for reading and outlives the reader.
  explicit FileReader(std::FILE* file) : file_(file) {}

  std::FILE* file() const { return file_; }

  // Reads into the front of `s` (blocking until full or EOF). 0 = EOF.
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    return ReadInto(UninitSpan(s.data(), s.size()));
  }

  // Reads into b's unfilled region(s), in order; advances b. 0 = EOF, or b
  // is full.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    size_t total = 0;
    for (;;) {
      UninitSpan dst = b.unfilled();
      if (dst.empty()) return total;
      absl::StatusOr<size_t> n = ReadInto(dst);
      if (!n.ok()) {
        if (total == 0) return n;
        pending_ = n.status();  // deliver the bytes first
        return total;
      }
      b.advance(*n);
      total += *n;
      if (*n < dst.size()) return total;
    }
  }

 private:
  // One fread loop into `dst` (retrying EINTR); see the file comment.
  absl::StatusOr<size_t> ReadInto(UninitSpan dst);

  std::FILE* file_;
  absl::Status pending_;
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_FILE_READER_H_
