#include "io/internal/frame_allocator.h"

#include <array>
#include <new>
#include <utility>

#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {
namespace {

// Size classes: 16-byte steps up to 128 B, then four per power of two up to
// 8 KiB (160, 192, 224, 256, 320, ...), the bins mimalloc and most size-class
// allocators use, so the global allocator does not round a block again.
constexpr std::size_t kMaxClassSize = 8192;
constexpr std::size_t kGranule = 16;

constexpr std::size_t RoundToClass(std::size_t size) {
  if (size <= 128) return size <= kGranule ? kGranule : (size + 15) / 16 * 16;
  std::size_t pow = 128;
  while (pow * 2 < size) pow *= 2;  // pow < size <= 2 * pow
  const std::size_t step = pow / 4;
  return (size + step - 1) / step * step;
}

constexpr std::uint32_t CountClasses() {
  std::uint32_t n = 0;
  for (std::size_t s = kGranule; s <= kMaxClassSize; s = RoundToClass(s + 1)) ++n;
  return n;
}
constexpr std::uint32_t kNumClasses = CountClasses();

struct ClassTables {
  std::array<std::uint32_t, kNumClasses> size{};
  // Class of a request of (i * kGranule) bytes, i = ceil(size / kGranule).
  std::array<std::uint8_t, kMaxClassSize / kGranule + 1> by_granule{};
};

constexpr ClassTables MakeTables() {
  ClassTables t;
  std::uint32_t c = 0;
  for (std::size_t s = kGranule; s <= kMaxClassSize; s = RoundToClass(s + 1)) {
    t.size[c++] = static_cast<std::uint32_t>(s);
  }
  c = 0;
  for (std::size_t i = 0; i < t.by_granule.size(); ++i) {
    while (t.size[c] < i * kGranule) ++c;
    t.by_granule[i] = static_cast<std::uint8_t>(c);
  }
  return t;
}
constexpr ClassTables kTables = MakeTables();
static_assert(kNumClasses < 256);
static_assert(kTables.size[kNumClasses - 1] == kMaxClassSize);
static_assert(RoundToClass(200) == 224 && RoundToClass(72) == 80 &&
              RoundToClass(232) == 256 && RoundToClass(257) == 320);

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

// kNumClasses means "no class: an exact-size global allocation".
std::uint32_t ClassFor(std::size_t size) {
  if (!kUseCache || size > kMaxClassSize) return kNumClasses;
  return kTables.by_granule[(size + kGranule - 1) / kGranule];
}

}  // namespace

std::size_t FrameBlockSize(std::size_t size) {
  const std::uint32_t c = ClassFor(size);
  return c < kNumClasses ? kTables.size[c] : size;
}

void* AllocateFrame(std::size_t size) {
  const std::uint32_t c = ClassFor(size);
  FrameCache* cache = tls_cache;
  if (cache != nullptr) ++cache->stats.frames_allocated;
  if (c < kNumClasses && cache != nullptr && cache->head[c] != nullptr) {
    FreeBlock* b = cache->head[c];
    cache->head[c] = b->next;
    --cache->count[c];
    --cache->stats.cached_blocks;
    ++cache->stats.cache_hits;
    return b;
  }
  if (cache != nullptr) ++cache->stats.cache_misses;
  const std::size_t bytes = c < kNumClasses ? kTables.size[c] : size;
  void* raw = ::operator new(bytes, std::nothrow);
  READBUF_CHECK(raw != nullptr, "out of memory allocating a %zu-byte frame",
                size);
  return raw;
}

void FreeFrame(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  const std::uint32_t c = ClassFor(size);
  FrameCache* cache = tls_cache;
  if (cache != nullptr) ++cache->stats.frames_freed;
  if (c < kNumClasses && cache != nullptr &&
      cache->count[c] < kMaxCachedPerClass) {
    auto* b = static_cast<FreeBlock*>(p);
    b->next = cache->head[c];
    cache->head[c] = b;
    ++cache->count[c];
    ++cache->stats.cached_blocks;
    return;
  }
  ::operator delete(p);
}

FrameCacheStats CurrentFrameCacheStats() {
  return tls_cache != nullptr ? tls_cache->stats : FrameCacheStats{};
}

std::uint64_t TrimFrameCache() {
  FrameCache* cache = tls_cache;
  if (cache == nullptr) return 0;
  std::uint64_t freed = 0;
  for (std::uint32_t c = 0; c < kNumClasses; ++c) {
    while (FreeBlock* b = cache->head[c]) {
      cache->head[c] = b->next;
      ::operator delete(static_cast<void*>(b));
      ++freed;
    }
    cache->count[c] = 0;
  }
  cache->stats.cached_blocks = 0;
  return freed;
}

ScopedFrameCache::ScopedFrameCache() {
  READBUF_CHECK(tls_cache == nullptr, "thread already has a frame cache");
  tls_cache = new FrameCache;
}

ScopedFrameCache::~ScopedFrameCache() {
  TrimFrameCache();
  delete std::exchange(tls_cache, nullptr);
}

}  // namespace io_internal
}  // namespace readbuf
