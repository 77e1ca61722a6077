// -----------------------------------------------------------------------------
// File: tests/fuzz/echo_flags_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes what examples/echo_server.cc does with its command line, as far as
// it is reachable from outside that program. Its validation lives inline in
// main() (not a function a test can call), so this target drives the two
// pieces main() is built from:
//
//   - absl::ParseFlag for each flag's type (int --port/--threads/
//     --buffer_size, string --host/--policy/--backend/--stats_file, bool --pin,
//     absl::Duration --shutdown_grace): a parsed value unparses to text that
//     parses back to the same value.
//   - the listen address main() builds, SocketAddress::Parse(host + ":" +
//     port) for the last --host and --port given: accepted only for a
//     port in 0..65535, and then port() is that port.
//
// Input: arguments separated by '\n', each "--name=value" (or "--name" for
// the bool), as a shell would pass them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"
#include "io/address.h"

namespace readbuf::fuzz {
namespace {

// Parses `text` as a T; on success checks the unparse/parse round trip.
// (Explicit <T>: Abseil's deprecated Duration overloads would win otherwise.)
template <class T>
bool ParseAndRoundTrip(absl::string_view text, T* value) {
  std::string error;
  if (!absl::ParseFlag<T>(text, value, &error)) return false;
  const std::string unparsed = absl::UnparseFlag<T>(*value);
  T again{};
  READBUF_CHECK(absl::ParseFlag<T>(absl::string_view(unparsed), &again, &error),
                "\"%s\" unparses to \"%s\", which does not parse: %s",
                std::string(text).c_str(), unparsed.c_str(), error.c_str());
  READBUF_CHECK(again == *value, "\"%s\" does not round-trip through \"%s\"",
                std::string(text).c_str(), unparsed.c_str());
  return true;
}

struct ParsedFlags {
  std::string host = "127.0.0.1";
  int port = 0;
};

void ParseArgument(absl::string_view arg, ParsedFlags& flags) {
  if (!absl::ConsumePrefix(&arg, "--")) return;  // a positional: main() rejects it
  const size_t eq = arg.find('=');
  const absl::string_view name = arg.substr(0, eq);
  const absl::string_view value = eq == absl::string_view::npos ? "" : arg.substr(eq + 1);
  if (name == "port" || name == "threads" || name == "buffer_size") {
    int parsed = 0;
    if (ParseAndRoundTrip(value, &parsed) && name == "port") flags.port = parsed;
  } else if (name == "host" || name == "policy" || name == "backend" || name == "stats_file") {
    std::string parsed;
    READBUF_CHECK(ParseAndRoundTrip(value, &parsed), "a string flag rejected its value");
    READBUF_CHECK(parsed == value, "a string flag changed its value");
    if (name == "host") flags.host = parsed;
  } else if (name == "pin") {
    bool parsed = false;
    ParseAndRoundTrip(eq == absl::string_view::npos ? absl::string_view("true") : value,
                      &parsed);
  } else if (name == "shutdown_grace") {
    absl::Duration parsed;
    ParseAndRoundTrip(value, &parsed);
  }
}

void CheckListenAddress(const ParsedFlags& flags) {
  const std::string text = flags.host + ":" + std::to_string(flags.port);
  absl::StatusOr<SocketAddress> addr = SocketAddress::Parse(text);
  if (flags.port < 0 || flags.port > 65535) {
    READBUF_CHECK(!addr.ok(), "accepted out-of-range port in \"%s\"", text.c_str());
    return;
  }
  if (addr.ok()) {
    READBUF_CHECK(addr->port() == flags.port, "\"%s\": port() = %u", text.c_str(),
                  addr->port());
  }
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  readbuf::fuzz::ParsedFlags flags;
  for (absl::string_view arg : absl::StrSplit(input, '\n')) {
    readbuf::fuzz::ParseArgument(arg, flags);
  }
  readbuf::fuzz::CheckListenAddress(flags);
  return 0;
}
