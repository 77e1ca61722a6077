// The example servers' --stats_file plumbing: the process's resident bytes,
// and replacing a file's content atomically (PATH.tmp, then rename), so a
// reader polling PATH never sees half a line.
// Thread safety: stateless; callable from any thread, but two writers of the
// same path race on PATH.tmp.

#ifndef READBUF_EXAMPLES_STATS_FILE_H_
#define READBUF_EXAMPLES_STATS_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace readbuf::examples {

// This process's resident set in bytes (/proc/self/statm); 0 if unreadable.
size_t ResidentBytes();

// Writes `text` to `path`.tmp and renames it over `path`. Errors name the
// failing call and the file; `path` is untouched on error.
absl::Status ReplaceFileContents(const std::string& path, const std::string& text);

}  // namespace readbuf::examples

#endif  // READBUF_EXAMPLES_STATS_FILE_H_
