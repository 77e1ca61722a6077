#include "examples/http/request.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"

namespace readbuf::http {
namespace {

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Field values: visible characters, spaces and tabs (obs-text allowed).
bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 ? c != '\t' : u == 0x7f) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

absl::Status Bad(const char* what) {
  return absl::InvalidArgumentError(std::string("bad request: ") + what);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Whether the comma-separated `list` holds `token` (case-insensitive).
bool ListHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (EqualsIgnoreCase(TrimOws(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

absl::StatusOr<RequestHead> ParseRequestHead(std::string_view head) {
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") {
    return Bad("the head does not end with an empty line");
  }
  RequestHead req;
  const size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  // request-line = method SP request-target SP HTTP-version
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Bad("request line without spaces");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Bad("request line without a version");
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(req.method)) return Bad("method is not a token");
  if (req.target.empty()) return Bad("empty request target");
  for (char c : req.target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return Bad("control character or space in the target");
  }
  if (version == "HTTP/1.1") {
    req.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    req.minor_version = 0;
  } else {
    return Bad("version is not HTTP/1.0 or HTTP/1.1");
  }
  req.keep_alive = req.minor_version == 1;

  // field-line = field-name ":" OWS field-value OWS
  req.fields = head.substr(eol + 2, head.size() - 4 - eol);  // without the blank line
  std::string_view rest = req.fields;
  bool has_host = false;
  bool has_length = false;
  bool has_transfer_encoding = false;
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return Bad("obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Bad("header field without a colon");
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Bad("header field name is not a token (whitespace before ':'?)");
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsFieldValue(value)) return Bad("control character in a header field value");
    if (EqualsIgnoreCase(name, "host")) {
      has_host = true;
    } else if (EqualsIgnoreCase(name, "content-length")) {
      if (value.empty() || value.size() > 15) return Bad("Content-Length is not a number");
      std::uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return Bad("Content-Length is not a number");
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (has_length && n != req.content_length) return Bad("conflicting Content-Length fields");
      has_length = true;
      req.content_length = n;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      has_transfer_encoding = true;
    } else if (EqualsIgnoreCase(name, "connection")) {
      if (ListHas(value, "close")) req.keep_alive = false;
      if (req.minor_version == 0 && ListHas(value, "keep-alive")) req.keep_alive = true;
    }
  }
  if (req.minor_version == 1 && !has_host) return Bad("HTTP/1.1 request without Host");
  if (has_transfer_encoding) {
    if (has_length) return Bad("both Content-Length and Transfer-Encoding");
    return absl::UnimplementedError("Transfer-Encoding request bodies are not implemented");
  }
  return req;
}

std::string_view FindField(std::string_view fields, std::string_view name) {
  while (!fields.empty()) {
    const size_t end = fields.find("\r\n");
    const std::string_view line = fields.substr(0, end);
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name)) {
      return TrimOws(line.substr(colon + 1));
    }
  }
  return {};
}

int StatusFor(const absl::Status& parse_error) {
  return absl::IsUnimplemented(parse_error) ? 501 : 400;
}

}  // namespace readbuf::http
