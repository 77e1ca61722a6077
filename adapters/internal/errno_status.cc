// See errno_status.h.
#include "adapters/internal/errno_status.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace readbuf::adapters_internal {

absl::Status ErrnoError(int error_number, absl::string_view operation) {
  absl::Status status = absl::ErrnoToStatus(error_number, operation);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error_number)));
  return status;
}

absl::Status FdCallError(int error_number, absl::string_view call, int fd) {
  return ErrnoError(error_number, absl::StrCat(call, "(fd=", fd, ")"));
}

std::optional<int> ErrnoOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  if (!payload.has_value()) return std::nullopt;
  int error_number = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &error_number)) {
    return std::nullopt;
  }
  return error_number;
}

}  // namespace readbuf::adapters_internal
