// -----------------------------------------------------------------------------
// File: tests/fuzz/http_request_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes examples/http/request.h. The input, with "\r\n\r\n" appended when it
// lacks one, is a request head. Checks:
//   - ParseRequestHead never reads outside the head: every view it returns
//     lies inside the input;
//   - on success: the method is a non-empty token, the target has no space
//     or control character, the version is 1.0 or 1.1, an HTTP/1.1 request
//     had a Host field, and FindField(fields, "host") agrees;
//   - on failure: InvalidArgument (400) or Unimplemented (501) only, with a
//     message, and StatusFor maps them to 400 / 501.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "examples/http/request.h"

namespace readbuf::fuzz {
namespace {

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void Check(std::string_view head) {
  absl::StatusOr<http::RequestHead> r = http::ParseRequestHead(head);
  if (!r.ok()) {
    const int status = http::StatusFor(r.status());
    READBUF_CHECK(absl::IsInvalidArgument(r.status()) || absl::IsUnimplemented(r.status()),
                  "unexpected error code: %s", r.status().ToString().c_str());
    READBUF_CHECK(!r.status().message().empty(), "error without a message");
    READBUF_CHECK(status == (absl::IsUnimplemented(r.status()) ? 501 : 400), "StatusFor %d", status);
    return;
  }
  READBUF_CHECK(Inside(r->method, head) && Inside(r->target, head) && Inside(r->fields, head),
                "a view points outside the head");
  READBUF_CHECK(!r->method.empty() && !r->target.empty(), "empty method or target accepted");
  for (char c : r->target) {
    READBUF_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f, "bad target byte accepted");
  }
  READBUF_CHECK(r->minor_version == 0 || r->minor_version == 1, "version %d", r->minor_version);
  const std::string_view host = http::FindField(r->fields, "host");
  READBUF_CHECK(Inside(host, head), "FindField points outside the head");
  if (r->minor_version == 1) {
    // Host may be present with an empty value; it must be present.
    bool found = false;
    std::string_view rest = r->fields;
    while (!rest.empty()) {
      const size_t end = rest.find("\r\n");
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
      if (line.size() >= 5 && (line[0] | 0x20) == 'h' && (line[1] | 0x20) == 'o' &&
          (line[2] | 0x20) == 's' && (line[3] | 0x20) == 't' && line[4] == ':') {
        found = true;
      }
    }
    READBUF_CHECK(found, "HTTP/1.1 request without Host accepted");
  }
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string head(reinterpret_cast<const char*>(data), size);
  if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) head += "\r\n\r\n";
  readbuf::fuzz::Check(head);
  return 0;
}
