// See tls_errors.h.
#include "bench/harness/tls_errors.h"

#include <openssl/err.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace readbuf::bench {

std::string DrainTlsErrors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    absl::StrAppend(&out, out.empty() ? "" : "; ", text);
  }
  return out.empty() ? "no error queued" : out;
}

}  // namespace readbuf::bench
