// See kernel_slab.h.
#include "bench/harness/kernel_slab.h"

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace readbuf::bench {

absl::StatusOr<uint64_t> KernelSlabBytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view view(line);
    if (!absl::ConsumePrefix(&view, "Slab:")) continue;
    view = absl::StripSuffix(absl::StripAsciiWhitespace(view), " kB");
    uint64_t kb;
    if (absl::SimpleAtoi(view, &kb)) return kb * 1024;
    break;
  }
  return absl::UnavailableError("no readable Slab line in /proc/meminfo");
}

}  // namespace readbuf::bench
