// See io_status.h.
#include "io/io_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace readbuf {
namespace {
constexpr absl::string_view kWouldBlockPayload = "readbuf.io/would_block";
}  // namespace

absl::Status WouldBlockError() {
  absl::Status status(absl::StatusCode::kUnavailable,
                      "would block: no data until the source is ready");
  status.SetPayload(kWouldBlockPayload, absl::Cord());
  return status;
}

bool IsWouldBlock(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         status.GetPayload(kWouldBlockPayload).has_value();
}

}  // namespace readbuf
