// See io_status.h.
#include "io/io_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace readbuf {
namespace {
constexpr absl::string_view kWouldBlockPayload = "readbuf.io/would_block";
}  // namespace

absl::Status WouldBlockError() {
  // Built once: a copy shares the representation (a reference count), so the
  // EAGAIN path of every read allocates nothing.
  static const absl::Status* const kWouldBlock = [] {
    auto* status = new absl::Status(absl::StatusCode::kUnavailable,
                                    "would block: no data until the source is ready");
    status->SetPayload(kWouldBlockPayload, absl::Cord());
    return status;
  }();
  return *kWouldBlock;
}

bool IsWouldBlock(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         status.GetPayload(kWouldBlockPayload).has_value();
}

}  // namespace readbuf
