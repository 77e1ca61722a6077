// See server_stats.h.
#include "bench/harness/server_stats.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace readbuf::bench {
namespace {

// The seq of the line now in `path`, or 0 if there is none (yet).
uint64_t CurrentSeq(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  absl::StatusOr<ServerStats> stats = ParseServerStatsLine(line);
  if (!stats.ok()) return 0;
  auto it = stats->find("seq");
  return it == stats->end() ? 0 : it->second;
}

}  // namespace

absl::StatusOr<ServerStats> ParseServerStatsLine(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return absl::InvalidArgumentError("empty stats line");
  ServerStats stats;
  for (absl::string_view pair : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    uint64_t value = 0;
    if (eq == absl::string_view::npos || eq == 0 ||
        !absl::SimpleAtoi(pair.substr(eq + 1), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad stats pair '", pair, "'"));
    }
    if (!stats.emplace(std::string(pair.substr(0, eq)), value).second) {
      return absl::InvalidArgumentError(absl::StrCat("stats key given twice: '", pair, "'"));
    }
  }
  return stats;
}

absl::StatusOr<ServerStats> RequestServerStats(pid_t pid, const std::string& path, int signal,
                                               absl::Duration timeout) {
  const uint64_t before = CurrentSeq(path);
  if (kill(pid, signal) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("kill(", pid, ", ", signal, ")"));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(path);
    std::string line;
    if (std::getline(in, line)) {
      absl::StatusOr<ServerStats> stats = ParseServerStatsLine(line);
      if (!stats.ok()) return stats.status();
      auto seq = stats->find("seq");
      if (seq != stats->end() && seq->second > before) return stats;
    }
    usleep(2000);
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no new stats line in ", path, " within ", absl::FormatDuration(timeout)));
}

}  // namespace readbuf::bench
