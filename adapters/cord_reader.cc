// See cord_reader.h.
#include "adapters/cord_reader.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "buf/uninit_span.h"

namespace readbuf {

size_t CordReader::CopyOut(UninitSpan dst) {
  auto* out = static_cast<char*>(dst.write_ptr());
  size_t copied = 0;
  for (absl::string_view chunk : cord_.Chunks()) {
    if (copied == dst.size()) break;
    const size_t n = std::min(chunk.size(), dst.size() - copied);
    std::memcpy(out + copied, chunk.data(), n);
    copied += n;
  }
  cord_.RemovePrefix(copied);
  return copied;
}

}  // namespace readbuf
