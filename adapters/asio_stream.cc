// See asio_stream.h.
#include "adapters/asio_stream.h"

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "adapters/internal/errno_status.h"
#include "asio.hpp"
#include "io/io_status.h"

namespace readbuf {

absl::Status StatusFromAsioError(const asio::error_code& ec,
                                 std::string_view operation) {
  if (!ec) return absl::OkStatus();
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    return WouldBlockError();
  }
  const std::string op(operation);
  if (ec == asio::error::operation_aborted) {
    return absl::CancelledError(op + ": " + ec.message());
  }
  if (ec == asio::error::eof) {
    return absl::OutOfRangeError(op + ": end of stream");
  }
  if (ec.category() == asio::system_category()) {
    return adapters_internal::ErrnoError(ec.value(), op);
  }
  return absl::UnknownError(op + ": " + ec.message());
}

asio::error_code AsioErrorFromStatus(const absl::Status& status) {
  if (status.ok()) return {};
  if (IsWouldBlock(status)) return asio::error::would_block;
  if (std::optional<int> error_number = adapters_internal::ErrnoOf(status)) {
    return asio::error_code(*error_number, asio::system_category());
  }
  int error_number = EIO;
  switch (status.code()) {
    case absl::StatusCode::kCancelled:
      return asio::error::operation_aborted;
    case absl::StatusCode::kInvalidArgument:
      error_number = EINVAL;
      break;
    case absl::StatusCode::kNotFound:
      error_number = ENOENT;
      break;
    case absl::StatusCode::kPermissionDenied:
      error_number = EACCES;
      break;
    case absl::StatusCode::kResourceExhausted:
      error_number = ENOMEM;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      error_number = ETIMEDOUT;
      break;
    case absl::StatusCode::kUnavailable:
      error_number = ECONNRESET;
      break;
    case absl::StatusCode::kUnimplemented:
      error_number = ENOSYS;
      break;
    default:
      break;
  }
  return asio::error_code(error_number, asio::system_category());
}

}  // namespace readbuf
