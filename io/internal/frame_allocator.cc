#include "io/internal/frame_allocator.h"

#include <new>

#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {
namespace {

// Header in front of every frame; 16 bytes keeps the frame aligned to
// __STDCPP_DEFAULT_NEW_ALIGNMENT__.
struct alignas(16) BlockHeader {
  std::uint32_t size_class;  // kNumClasses means "global allocator, exact size"
};
static_assert(sizeof(BlockHeader) == 16);

constexpr std::uint32_t kNumClasses = 7;  // 128 B .. 8 KiB payloads
constexpr std::size_t kClassSize[kNumClasses] = {128,  256,  512, 1024,
                                                 2048, 4096, 8192};
// Upper bound on blocks kept per class so a burst does not pin memory.
constexpr std::uint32_t kMaxCachedPerClass = 1024;

struct FreeBlock {
  FreeBlock* next;
};

struct FrameCache {
  FreeBlock* head[kNumClasses] = {};
  std::uint32_t count[kNumClasses] = {};
  FrameCacheStats stats;
};

thread_local FrameCache* tls_cache = nullptr;

#ifdef READBUF_IO_SYSTEM_ALLOCATOR
constexpr bool kUseCache = false;
#else
constexpr bool kUseCache = true;
#endif

std::uint32_t ClassFor(std::size_t size) {
  for (std::uint32_t c = 0; c < kNumClasses; ++c) {
    if (size <= kClassSize[c]) return c;
  }
  return kNumClasses;
}

}  // namespace

void* AllocateFrame(std::size_t size) {
  std::uint32_t c = kUseCache ? ClassFor(size) : kNumClasses;
  FrameCache* cache = tls_cache;
  if (c < kNumClasses && cache != nullptr && cache->head[c] != nullptr) {
    FreeBlock* b = cache->head[c];
    cache->head[c] = b->next;
    --cache->count[c];
    --cache->stats.cached_blocks;
    ++cache->stats.cache_hits;
    auto* h = reinterpret_cast<BlockHeader*>(b);
    h->size_class = c;
    return h + 1;
  }
  if (cache != nullptr) ++cache->stats.cache_misses;
  std::size_t payload = c < kNumClasses ? kClassSize[c] : size;
  void* raw = ::operator new(sizeof(BlockHeader) + payload, std::nothrow);
  READBUF_CHECK(raw != nullptr, "out of memory allocating a %zu-byte frame",
                size);
  auto* h = static_cast<BlockHeader*>(raw);
  h->size_class = c;
  return h + 1;
}

void FreeFrame(void* p) noexcept {
  if (p == nullptr) return;
  BlockHeader* h = static_cast<BlockHeader*>(p) - 1;
  std::uint32_t c = h->size_class;
  FrameCache* cache = tls_cache;
  if (c < kNumClasses && cache != nullptr &&
      cache->count[c] < kMaxCachedPerClass) {
    auto* b = reinterpret_cast<FreeBlock*>(h);
    b->next = cache->head[c];
    cache->head[c] = b;
    ++cache->count[c];
    ++cache->stats.cached_blocks;
    return;
  }
  ::operator delete(static_cast<void*>(h));
}

FrameCacheStats CurrentFrameCacheStats() {
  return tls_cache != nullptr ? tls_cache->stats : FrameCacheStats{};
}

ScopedFrameCache::ScopedFrameCache() {
  READBUF_CHECK(tls_cache == nullptr, "thread already has a frame cache");
  tls_cache = new FrameCache;
}

ScopedFrameCache::~ScopedFrameCache() {
  FrameCache* cache = tls_cache;
  tls_cache = nullptr;
  for (std::uint32_t c = 0; c < kNumClasses; ++c) {
    while (FreeBlock* b = cache->head[c]) {
      cache->head[c] = b->next;
      ::operator delete(static_cast<void*>(b));
    }
  }
  delete cache;
}

}  // namespace io_internal
}  // namespace readbuf
