// -----------------------------------------------------------------------------
// File: io/internal/frame_allocator.h
// -----------------------------------------------------------------------------
//
// Per-thread size-class freelists for coroutine frames. Task's promise_type
// routes `operator new/delete` here. A reactor core installs a cache for its
// thread (ScopedFrameCache); every other thread, and every frame larger than
// the biggest class, uses the global allocator. Each block carries a small
// header naming its class, so a frame may be freed on any thread: on a thread
// without a cache it goes back to the global allocator.
//
// With `--define=readbuf_allocator=system` (ASan/TSan builds) the freelists
// are bypassed so the sanitizers see every frame.

#ifndef READBUF_IO_INTERNAL_FRAME_ALLOCATOR_H_
#define READBUF_IO_INTERNAL_FRAME_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>

namespace readbuf {
namespace io_internal {

// Allocates `size` bytes for a coroutine frame. Never returns null (aborts on
// out-of-memory, like ::operator new without exceptions).
void* AllocateFrame(std::size_t size);

// Frees a block returned by AllocateFrame, on any thread.
void FreeFrame(void* p) noexcept;

// Statistics of the calling thread's cache (all zero without one).
struct FrameCacheStats {
  std::uint64_t cache_hits = 0;    // allocations served from a freelist
  std::uint64_t cache_misses = 0;  // allocations that went to the allocator
  std::uint64_t cached_blocks = 0; // blocks currently held in freelists
};
FrameCacheStats CurrentFrameCacheStats();

// Installs a frame cache for the current thread for the object's lifetime and
// releases every cached block at destruction.
// REQUIRES: at most one per thread at a time.
class ScopedFrameCache {
 public:
  ScopedFrameCache();
  ~ScopedFrameCache();
  ScopedFrameCache(const ScopedFrameCache&) = delete;
  ScopedFrameCache& operator=(const ScopedFrameCache&) = delete;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_FRAME_ALLOCATOR_H_
