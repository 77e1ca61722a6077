// See scratch_copy_reader.h: the per-thread free list of scratch buffers.
#include "adapters/scratch_copy_reader.h"

#include <cstddef>
#include <cstring>
#include <vector>

namespace readbuf::adapters_internal {
namespace {

struct ThreadScratch {
  std::vector<std::byte*> idle;
  size_t leased = 0;
  size_t zeroed = 0;

  // Returning a lease never allocates (it keeps at most kKeptIdle).
  ThreadScratch() { idle.reserve(ScratchLease::kKeptIdle); }
  ~ThreadScratch() {
    for (std::byte* memory : idle) delete[] memory;
  }
};

ThreadScratch& ThisThreadScratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

}  // namespace

ScratchLease::ScratchLease() {
  ThreadScratch& scratch = ThisThreadScratch();
  owner_ = &scratch;
  ++scratch.leased;
  if (!scratch.idle.empty()) {
    memory_ = scratch.idle.back();
    scratch.idle.pop_back();
    return;
  }
  // Zeroed once, so a span reader that looks at its buffer sees no stale
  // heap bytes; every later lease reuses it as is.
  memory_ = new std::byte[kScratchSize];
  std::memset(memory_, 0, kScratchSize);
  scratch.zeroed += kScratchSize;
}

ScratchLease::~ScratchLease() {
  ThreadScratch& scratch = ThisThreadScratch();
  if (&scratch != owner_) {  // ended on another thread: do not share it
    delete[] memory_;
    return;
  }
  --scratch.leased;
  if (scratch.idle.size() >= kKeptIdle) {
    delete[] memory_;
    return;
  }
  scratch.idle.push_back(memory_);
}

size_t ScratchLease::ThreadZeroedBytes() { return ThisThreadScratch().zeroed; }

size_t ScratchLease::ThreadLeased() { return ThisThreadScratch().leased; }

}  // namespace readbuf::adapters_internal
