// See istream_reader.h.
#include "adapters/istream_reader.h"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <ios>
#include <istream>
#include <streambuf>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/uninit_span.h"

namespace readbuf {

absl::StatusOr<size_t> IstreamReader::ReadInto(UninitSpan dst) {
  if (dst.empty()) return 0;
  std::istream& is = *stream_;
  if (is.bad() || is.fail()) {
    return absl::FailedPreconditionError(
        "IstreamReader: the std::istream is in a failed state");
  }
  if (is.eof()) return 0;
  // noskipws sentry: flushes a tied stream, as unformatted input does.
  std::istream::sentry sentry(is, /*noskipws=*/true);
  if (!sentry) return 0;  // the sentry saw EOF and set the state
  std::streambuf* sb = is.rdbuf();
  if (sb == nullptr) {
    return absl::FailedPreconditionError("IstreamReader: no streambuf");
  }
  try {
    std::streamsize available = sb->in_avail();
    if (available == 0) {
      // Wait for the first byte only.
      if (std::istream::traits_type::eq_int_type(
              sb->sgetc(), std::istream::traits_type::eof())) {
        is.setstate(std::ios_base::eofbit);
        return 0;
      }
      available = std::max<std::streamsize>(sb->in_avail(), 1);
    } else if (available < 0) {
      is.setstate(std::ios_base::eofbit);
      return 0;
    }
    const auto want = static_cast<std::streamsize>(
        std::min<size_t>(dst.size(), static_cast<size_t>(available)));
    const std::streamsize n =
        sb->sgetn(static_cast<char*>(dst.write_ptr()), want);
    if (n <= 0) {
      is.setstate(std::ios_base::eofbit);
      return 0;
    }
    return static_cast<size_t>(n);
  } catch (const std::exception& e) {
    is.setstate(std::ios_base::badbit);
    return absl::UnknownError(std::string("IstreamReader: streambuf threw: ") +
                              e.what());
  } catch (...) {
    is.setstate(std::ios_base::badbit);
    return absl::UnknownError("IstreamReader: streambuf threw");
  }
}

}  // namespace readbuf
