// -----------------------------------------------------------------------------
// File: bench/harness/server_stats.h
// -----------------------------------------------------------------------------
//
// Reads the stats line examples/echo_server writes with --stats_file=PATH:
// one line of space-separated `key=value` pairs (decimal integers), written
// via PATH.tmp + rename when the server gets SIGUSR1 (or SIGUSR2: trim the
// pools first). See the file comment of examples/echo_server.cc for the keys.
//
// Example:
//
//   absl::StatusOr<ServerStats> st =
//       RequestServerStats(server->pid(), "/tmp/s.txt", SIGUSR1, absl::Seconds(5));
//   if (st.ok()) uint64_t held = st->at("pool_bytes_in_use");

#ifndef READBUF_BENCH_HARNESS_SERVER_STATS_H_
#define READBUF_BENCH_HARNESS_SERVER_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace readbuf::bench {

// key -> value of one stats line.
using ServerStats = std::map<std::string, uint64_t>;

// Parses "k1=v1 k2=v2 ...\n". Errors: InvalidArgument naming the bad pair
// (no '=', empty key, a value that is not a non-negative integer, a key
// given twice) or an empty line.
absl::StatusOr<ServerStats> ParseServerStatsLine(absl::string_view line);

// Sends `signal` (SIGUSR1 or SIGUSR2) to `pid` and waits until `path` holds
// a line whose `seq` is newer than the one there before, then parses it.
// Errors: the kill(2) errno; DeadlineExceeded if no new line came within
// `timeout`; parse errors as above.
absl::StatusOr<ServerStats> RequestServerStats(pid_t pid, const std::string& path, int signal,
                                               absl::Duration timeout);

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_SERVER_STATS_H_
