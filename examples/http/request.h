// -----------------------------------------------------------------------------
// File: examples/http/request.h
// -----------------------------------------------------------------------------
//
// ParseRequestHead: an HTTP/1.1 request head (RFC 9112: request line, header
// fields, up to and including the blank line) into views of the same bytes.
// No allocation, no copy: every string_view points into `head`, so it is
// valid while those bytes are (a BufferedReader's message until consume()).
//
// What it checks, and the status a server answers with:
//   400  a malformed request line or header field (no colon, whitespace
//        before the colon, a control character, an obs-fold continuation
//        line), a version other than HTTP/1.0 and HTTP/1.1, an HTTP/1.1
//        request without Host, a bad or conflicting Content-Length, or
//        Content-Length together with Transfer-Encoding
//   501  any Transfer-Encoding (chunked request bodies are not implemented)
// What it does not check: the head's size (the reader's max_bytes gives 431)
// and the target's syntax beyond "no whitespace or control characters".
//
// Example:
//
//   absl::StatusOr<readbuf::http::RequestHead> req = readbuf::http::ParseRequestHead(head);
//   if (!req.ok()) return readbuf::http::StatusFor(req.status());   // 400 or 501
//   if (req->method == "GET" && req->target == "/") ...

#ifndef READBUF_EXAMPLES_HTTP_REQUEST_H_
#define READBUF_EXAMPLES_HTTP_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace readbuf::http {

struct RequestHead {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;  // HTTP/1.<minor>
  std::uint64_t content_length = 0;
  // Whether the connection stays open after the response: HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;
  // The header block (field lines, CRLF-separated), for handlers that want
  // more than the fields above.
  std::string_view fields;
};

// Parses `head`, which ends with "\r\n\r\n".
// Errors: InvalidArgument (-> 400) and Unimplemented (-> 501), with a message
// naming the problem.
absl::StatusOr<RequestHead> ParseRequestHead(std::string_view head);

// The value of the first field named `name` (case-insensitive) in
// `fields`, trimmed; empty if absent.
std::string_view FindField(std::string_view fields, std::string_view name);

// The HTTP status for a ParseRequestHead error: 501 for Unimplemented, else 400.
int StatusFor(const absl::Status& parse_error);

}  // namespace readbuf::http

#endif  // READBUF_EXAMPLES_HTTP_REQUEST_H_
