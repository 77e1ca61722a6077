// -----------------------------------------------------------------------------
// File: io/internal/frame_allocator.h
// -----------------------------------------------------------------------------
//
// Per-thread size-class freelists for coroutine frames. Task's promise_type
// routes `operator new/delete` here. A reactor core installs a cache for its
// thread (ScopedFrameCache); every other thread, and every frame larger than
// the biggest class, uses the global allocator.
//
// Blocks carry no header: the promise types use the sized `operator delete`,
// so the compiler passes the frame size back to FreeFrame, which maps it to
// the same class as AllocateFrame did. Every block of a class is a global
// allocation of exactly that class's size, so a frame may be freed on any
// thread: onto that thread's freelist, or back to the global allocator.
//
// The classes follow the global allocator's own bins (mimalloc: 16-byte steps
// up to 128 B, then four per doubling), so a frame is rounded up once, never
// twice; a 200-byte frame costs 224 bytes, not 256 + a header.
//
// With `--define=readbuf_allocator=system` (ASan/TSan builds) the freelists
// are bypassed and each frame is an exact-size allocation, so the sanitizers
// see every frame and check the sizes passed to delete.

#ifndef READBUF_IO_INTERNAL_FRAME_ALLOCATOR_H_
#define READBUF_IO_INTERNAL_FRAME_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>

namespace readbuf {
namespace io_internal {

// Allocates `size` bytes for a coroutine frame, aligned to
// __STDCPP_DEFAULT_NEW_ALIGNMENT__. Never returns null (aborts on
// out-of-memory, like ::operator new without exceptions).
void* AllocateFrame(std::size_t size);

// Frees a block returned by AllocateFrame(size), on any thread.
// REQUIRES: `size` is the size that was passed to AllocateFrame.
void FreeFrame(void* p, std::size_t size) noexcept;

// The number of bytes AllocateFrame(size) asks the global allocator for:
// `size` rounded up to its class (`size` itself above the largest class).
std::size_t FrameBlockSize(std::size_t size);

// Statistics of the calling thread's cache (all zero without one).
struct FrameCacheStats {
  std::uint64_t cache_hits = 0;    // allocations served from a freelist
  std::uint64_t cache_misses = 0;  // allocations that went to the allocator
  std::uint64_t cached_blocks = 0; // blocks currently held in freelists
  // Frames allocated and freed on this thread (live = allocated - freed
  // when no frame crosses threads).
  std::uint64_t frames_allocated = 0;
  std::uint64_t frames_freed = 0;
};
FrameCacheStats CurrentFrameCacheStats();

// Frees every block the calling thread's cache holds; returns how many.
std::uint64_t TrimFrameCache();

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
