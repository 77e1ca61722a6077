// -----------------------------------------------------------------------------
// File: adapters/internal/errno_status.h
// -----------------------------------------------------------------------------
//
// ErrnoError(err, op): absl::ErrnoToStatus(err, op) -- the status every
// readbuf reader returns for a failed system call -- plus the errno itself as
// a payload, so a bridge to an errno-based API (Asio's error_code) can give
// back the exact error instead of guessing one from the status code.
// ErrnoOf(status) reads it back.

#ifndef READBUF_ADAPTERS_INTERNAL_ERRNO_STATUS_H_
#define READBUF_ADAPTERS_INTERNAL_ERRNO_STATUS_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace readbuf::adapters_internal {

// The payload type URL under which the errno is stored (as decimal text).
inline constexpr absl::string_view kErrnoPayload = "readbuf.adapters/errno";

absl::Status ErrnoError(int error_number, absl::string_view operation);

// ErrnoError for a call on a file descriptor, named "<call>(fd=<fd>)".
absl::Status FdCallError(int error_number, absl::string_view call, int fd);

// The errno stored by ErrnoError (or by the Asio bridge), if any.
std::optional<int> ErrnoOf(const absl::Status& status);

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_ERRNO_STATUS_H_
