// -----------------------------------------------------------------------------
// File: io/trim_memory.h
// -----------------------------------------------------------------------------
//
// TrimThisCore() gives back the memory the calling reactor core keeps for
// reuse after a burst of connections has gone: its BufferPool's free lists
// (BufferPool::Trim), its coroutine-frame cache, and the allocator's free
// pages for this thread (mimalloc: mi_collect; the system allocator:
// malloc_trim). Blocks in use are untouched. Run it in a task on each core;
// examples/echo_server does so on SIGUSR2.
//
// Thread safety: acts on the calling thread's caches only.

#ifndef READBUF_IO_TRIM_MEMORY_H_
#define READBUF_IO_TRIM_MEMORY_H_

#include <cstddef>
#include <cstdint>

namespace readbuf {

struct TrimReport {
  std::size_t pool_bytes_released = 0;     // from the pool's free lists
  std::uint64_t frame_blocks_released = 0;  // cached coroutine frames freed
};

TrimReport TrimThisCore();

}  // namespace readbuf

#endif  // READBUF_IO_TRIM_MEMORY_H_
