// -----------------------------------------------------------------------------
// File: bench/harness/alloc_count_preload.cc
// -----------------------------------------------------------------------------
//
// An LD_PRELOAD library that counts heap allocations in a server under test
// without changing the server: it interposes the malloc family (malloc,
// calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc) and
// forwards each call to the next definition (mimalloc when the server links
// it, else glibc). It interposes the replaceable global operator new (all
// eight forms) the same way, since an allocator library may define those
// itself instead of calling malloc (Debian's libmimalloc does). Memory a
// program takes from an allocator's own API (e.g. mimalloc's mi_heap_malloc
// in readbuf's BufferPool) is not counted: readbuf's servers report those as
// pool misses in their --stats_file line. Frees are not interposed.
//
// The count lives in a file the harness creates (AllocCounterFile in
// alloc_counter_file.h) and names in READBUF_ALLOC_COUNTER_FILE; this library
// maps it shared and adds 1 per call (a relaxed atomic), so the harness reads
// it at any time. Calls before the library's constructor ran are not counted.

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace {

using MallocFn = void* (*)(size_t);
using CallocFn = void* (*)(size_t, size_t);
using ReallocFn = void* (*)(void*, size_t);
using FreeFn = void (*)(void*);
using PosixMemalignFn = int (*)(void**, size_t, size_t);
using AlignedAllocFn = void* (*)(size_t, size_t);
using VallocFn = void* (*)(size_t);
using NewFn = void* (*)(size_t);
using NewNothrowFn = void* (*)(size_t, const std::nothrow_t&);
using NewAlignedFn = void* (*)(size_t, std::align_val_t);
using NewAlignedNothrowFn = void* (*)(size_t, std::align_val_t, const std::nothrow_t&);

MallocFn real_malloc = nullptr;
CallocFn real_calloc = nullptr;
ReallocFn real_realloc = nullptr;
FreeFn real_free = nullptr;
PosixMemalignFn real_posix_memalign = nullptr;
AlignedAllocFn real_aligned_alloc = nullptr;
AlignedAllocFn real_memalign = nullptr;
VallocFn real_valloc = nullptr;
// operator new, new[], and their nothrow / aligned forms (Itanium names).
NewFn real_new = nullptr;
NewFn real_new_array = nullptr;
NewNothrowFn real_new_nothrow = nullptr;
NewNothrowFn real_new_array_nothrow = nullptr;
NewAlignedFn real_new_aligned = nullptr;
NewAlignedFn real_new_array_aligned = nullptr;
NewAlignedNothrowFn real_new_aligned_nothrow = nullptr;
NewAlignedNothrowFn real_new_array_aligned_nothrow = nullptr;

std::atomic<uint64_t>* counter = nullptr;  // in the shared counter file
bool resolving = false;

// dlsym may allocate while we look the real functions up; those few
// allocations come from here and are never freed.
alignas(std::max_align_t) char bootstrap[16384];
size_t bootstrap_used = 0;

bool InBootstrap(const void* p) {
  return p >= static_cast<const void*>(bootstrap) &&
         p < static_cast<const void*>(bootstrap + sizeof(bootstrap));
}

void* BootstrapAlloc(size_t n) {
  const size_t align = alignof(std::max_align_t);
  const size_t start = (bootstrap_used + align - 1) / align * align;
  if (start + n > sizeof(bootstrap)) return nullptr;
  bootstrap_used = start + n;
  return bootstrap + start;
}

template <class Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

void Resolve() {
  if (real_malloc != nullptr || resolving) return;
  resolving = true;
  real_calloc = Next<CallocFn>("calloc");
  real_realloc = Next<ReallocFn>("realloc");
  real_free = Next<FreeFn>("free");
  real_posix_memalign = Next<PosixMemalignFn>("posix_memalign");
  real_aligned_alloc = Next<AlignedAllocFn>("aligned_alloc");
  real_memalign = Next<AlignedAllocFn>("memalign");
  real_valloc = Next<VallocFn>("valloc");
  real_new = Next<NewFn>("_Znwm");
  real_new_array = Next<NewFn>("_Znam");
  real_new_nothrow = Next<NewNothrowFn>("_ZnwmRKSt9nothrow_t");
  real_new_array_nothrow = Next<NewNothrowFn>("_ZnamRKSt9nothrow_t");
  real_new_aligned = Next<NewAlignedFn>("_ZnwmSt11align_val_t");
  real_new_array_aligned = Next<NewAlignedFn>("_ZnamSt11align_val_t");
  real_new_aligned_nothrow = Next<NewAlignedNothrowFn>("_ZnwmSt11align_val_tRKSt9nothrow_t");
  real_new_array_aligned_nothrow =
      Next<NewAlignedNothrowFn>("_ZnamSt11align_val_tRKSt9nothrow_t");
  real_malloc = Next<MallocFn>("malloc");
  resolving = false;
}

inline void Count() {
  if (counter != nullptr) counter->fetch_add(1, std::memory_order_relaxed);
}

__attribute__((constructor)) void MapCounter() {
  Resolve();
  const char* path = getenv("READBUF_ALLOC_COUNTER_FILE");
  if (path == nullptr) return;
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void* p = mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p != MAP_FAILED) counter = static_cast<std::atomic<uint64_t>*>(p);
}

}  // namespace

extern "C" {

void* malloc(size_t n) {
  Resolve();
  if (real_malloc == nullptr) return BootstrapAlloc(n);
  Count();
  return real_malloc(n);
}

void* calloc(size_t count, size_t size) {
  Resolve();
  if (real_calloc == nullptr) {
    if (size != 0 && count > SIZE_MAX / size) return nullptr;
    return BootstrapAlloc(count * size);  // static memory: already zero
  }
  Count();
  return real_calloc(count, size);
}

void* realloc(void* p, size_t n) {
  Resolve();
  if (InBootstrap(p)) {
    void* q = malloc(n);
    if (q != nullptr) {
      const size_t available = static_cast<size_t>(bootstrap + sizeof(bootstrap) -
                                                   static_cast<char*>(p));
      memcpy(q, p, n < available ? n : available);
    }
    return q;
  }
  if (real_realloc == nullptr) return nullptr;
  Count();
  return real_realloc(p, n);
}

void free(void* p) {
  if (p == nullptr || InBootstrap(p)) return;
  Resolve();
  if (real_free != nullptr) real_free(p);
}

int posix_memalign(void** out, size_t align, size_t n) {
  Resolve();
  if (real_posix_memalign == nullptr) return 12;  // ENOMEM
  Count();
  return real_posix_memalign(out, align, n);
}

void* aligned_alloc(size_t align, size_t n) {
  Resolve();
  if (real_aligned_alloc == nullptr) return nullptr;
  Count();
  return real_aligned_alloc(align, n);
}

void* memalign(size_t align, size_t n) {
  Resolve();
  if (real_memalign == nullptr) return nullptr;
  Count();
  return real_memalign(align, n);
}

void* valloc(size_t n) {
  Resolve();
  if (real_valloc == nullptr) return nullptr;
  Count();
  return real_valloc(n);
}

}  // extern "C"

// Each form forwards to the next definition (libmimalloc's or libstdc++'s).
// They run after Resolve() has succeeded: the dynamic linker never calls
// operator new, and malloc resolves everything on its first call.

void* operator new(size_t n) {
  Resolve();
  Count();
  return real_new(n);
}
void* operator new[](size_t n) {
  Resolve();
  Count();
  return real_new_array(n);
}
void* operator new(size_t n, const std::nothrow_t& tag) noexcept {
  Resolve();
  Count();
  return real_new_nothrow(n, tag);
}
void* operator new[](size_t n, const std::nothrow_t& tag) noexcept {
  Resolve();
  Count();
  return real_new_array_nothrow(n, tag);
}
void* operator new(size_t n, std::align_val_t align) {
  Resolve();
  Count();
  return real_new_aligned(n, align);
}
void* operator new[](size_t n, std::align_val_t align) {
  Resolve();
  Count();
  return real_new_array_aligned(n, align);
}
void* operator new(size_t n, std::align_val_t align, const std::nothrow_t& tag) noexcept {
  Resolve();
  Count();
  return real_new_aligned_nothrow(n, align, tag);
}
void* operator new[](size_t n, std::align_val_t align, const std::nothrow_t& tag) noexcept {
  Resolve();
  Count();
  return real_new_array_aligned_nothrow(n, align, tag);
}
