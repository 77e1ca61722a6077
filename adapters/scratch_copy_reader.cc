// See scratch_copy_reader.h.
#include "adapters/scratch_copy_reader.h"

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

#include "buf/internal/check.h"

namespace readbuf::adapters_internal {
namespace {

struct ThreadScratch {
  std::unique_ptr<std::byte[]> memory;
  bool leased = false;
  size_t zeroed = 0;
};

ThreadScratch& ThisThreadScratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

}  // namespace

ScratchLease::ScratchLease() {
  ThreadScratch& scratch = ThisThreadScratch();
  READBUF_CHECK(!scratch.leased,
                "nested ScratchCopyReader::read_owned on one thread: the "
                "thread's scratch buffer is already lent out");
  scratch.leased = true;
  if (scratch.memory == nullptr) {
    // Zeroed once, so a span reader that looks at its buffer sees no stale
    // heap bytes; every later lease reuses it as is.
    scratch.memory.reset(new std::byte[kScratchSize]);
    std::memset(scratch.memory.get(), 0, kScratchSize);
    scratch.zeroed += kScratchSize;
  }
  span_ = std::span<std::byte>(scratch.memory.get(), kScratchSize);
}

ScratchLease::~ScratchLease() { ThisThreadScratch().leased = false; }

size_t ScratchLease::ThreadZeroedBytes() { return ThisThreadScratch().zeroed; }

}  // namespace readbuf::adapters_internal
