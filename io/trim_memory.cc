#include "io/trim_memory.h"

#if defined(READBUF_IO_SYSTEM_ALLOCATOR)
#include <malloc.h>
#else
#include <mimalloc.h>
#endif

#include "buf/buffer_pool.h"
#include "io/internal/frame_allocator.h"

namespace readbuf {

TrimReport TrimThisCore() {
  TrimReport report;
  BufferPool& pool = BufferPool::ForThisThread();
  const std::size_t retained = pool.Stats().bytes_retained;
  pool.Trim();
  report.pool_bytes_released = retained - pool.Stats().bytes_retained;
  report.frame_blocks_released = io_internal::TrimFrameCache();
#if defined(READBUF_IO_SYSTEM_ALLOCATOR)
  ::malloc_trim(0);
#else
  mi_collect(/*force=*/true);
#endif
  return report;
}

}  // namespace readbuf
