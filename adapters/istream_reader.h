// -----------------------------------------------------------------------------
// File: adapters/istream_reader.h
// -----------------------------------------------------------------------------
//
// IstreamReader: a `std::istream` (any streambuf: file, string, socket) as a
// readbuf reader: read(span) and read_buf(b). It reads "some" bytes the way
// read(2) does: it waits for the first byte only (sgetc), then takes what the
// streambuf already has (in_avail), so it never blocks with data in hand.
// sgetn only writes its destination, so read_buf hands it the buffer's
// unfilled, possibly uninitialized memory.
//
// EOF is 0 bytes (and sets the stream's eofbit). A stream already in a
// failed state gives FailedPrecondition; an exception from the streambuf
// (iostreams carry no errno) gives Unknown with its what(), and sets badbit.
//
// Copies: 0 by this adapter (the streambuf's own buffering copies, as
// always). Zeroes: never. The stream is borrowed.
//
// Example:
//
//   std::ifstream file("data.bin", std::ios::binary);
//   readbuf::IstreamReader reader(file);
//   readbuf::Vectored<4> buf(64 * 1024);
//   absl::StatusOr<size_t> n = reader.read_buf(buf);

#ifndef READBUF_ADAPTERS_ISTREAM_READER_H_
#define READBUF_ADAPTERS_ISTREAM_READER_H_

#include <cstddef>
#include <istream>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"

namespace readbuf {

// IstreamReader
//
// Thread safety: as the stream.
class IstreamReader {
 public:
  static constexpr std::string_view kName = "IstreamReader";
  static constexpr std::string_view kHeader = "adapters/istream_reader.h";
  static constexpr std::string_view kFrom = "`std::istream`";
  static constexpr std::string_view kTo = "`read`, `read_buf`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "waits for the first byte only, then takes what the streambuf holds "
      "(sgetn into the buffer)";

  // REQUIRES: `stream` outlives the reader.
  explicit IstreamReader(std::istream& stream) : stream_(&stream) {}

  // Reads some bytes into the front of `s`. 0 = EOF.
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    return ReadInto(UninitSpan(s.data(), s.size()));
  }

  // Reads some bytes into b's unfilled region (the first non-full segment
  // of a vectored buffer); advances b. 0 = EOF, or b is full.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    absl::StatusOr<size_t> n = ReadInto(b.unfilled());
    if (n.ok()) b.advance(*n);
    return n;
  }

 private:
  absl::StatusOr<size_t> ReadInto(UninitSpan dst);

  std::istream* stream_;
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ISTREAM_READER_H_
