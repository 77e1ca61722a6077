// -----------------------------------------------------------------------------
// File: buf/dyn.h
// -----------------------------------------------------------------------------
//
// Type-erased ReadBufs, for non-template code and ABI boundaries:
//
//   DynRef  a non-owning view of any ReadBuf (like absl::FunctionRef): take it
//           by value in a function that must accept every buffer type.
//   Dyn     an owning ReadBuf policy holding any other ReadBuf (Uninit by
//           default), so `Dyn` can be the template parameter too.
//
// Both model VectoredReadBuf (a contiguous buffer is one segment) and carry a
// run-time capability mask, since the compile-time traits of the erased type
// are gone. Cost: one indirect call per operation, and for Dyn a heap
// allocation at construction when the erased buffer is larger than
// Dyn::kInlineSize. bench/read_buf_benchmark.cc measures it against Uninit.
//
// Example:
//
//   absl::Status ReadFrame(int fd, readbuf::DynRef buf);   // not a template
//   readbuf::Vectored<2> v({16, 4096});
//   absl::Status s = ReadFrame(fd, readbuf::DynRef(v));
//   readbuf::Dyn owned(readbuf::Pooled(...));             // or Dyn(8192)

#ifndef READBUF_BUF_DYN_H_
#define READBUF_BUF_DYN_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "buf/internal/check.h"
#include "buf/internal/erased_storage.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/uninit_span.h"

namespace readbuf {

// Run-time capabilities of an erased buffer, as a bit mask.
enum ReadBufCapability : uint32_t {
  kReadBufContiguous = 1u << 0,      // filled() is one span
  kReadBufVectored = 1u << 1,        // several segments; prefer readv(2)
  kReadBufDefersMemory = 1u << 2,    // holds no memory until prepare()
  kReadBufZeroesEveryRead = 1u << 3,  // prepare() zeroes before every read
  kReadBufReserves = 1u << 4          // reserve() grows it (Pooled)
};

namespace buf_internal {

// One table per erased type, with static storage duration.
struct DynReadBufVTable {
  size_t (*capacity)(const void*);
  size_t (*filled_size)(const void*);
  size_t (*initialized_size)(const void*);
  UninitSpan (*unfilled)(void*);
  std::span<std::byte> (*initialize_unfilled)(void*);
  void (*advance)(void*, size_t);
  void (*clear)(void*);
  size_t (*segment_count)(const void*);
  std::span<const std::byte> (*filled_segment)(const void*, size_t);
  size_t (*unfilled_iovecs)(void*, std::span<iovec>);
  absl::Status (*prepare)(void*, size_t);
  void (*release_idle)(void*);
  void (*record_read)(void*, size_t, size_t);
  absl::Status (*reserve)(void*, size_t, size_t);
  size_t (*max_capacity)(const void*);
  ErasedOps ops;  // destroy / move, for Dyn
  uint32_t capabilities;
};

template <ReadBuf B>
inline constexpr DynReadBufVTable kDynReadBufVTable = {
    [](const void* b) { return static_cast<const B*>(b)->capacity(); },
    [](const void* b) { return static_cast<const B*>(b)->filled_size(); },
    [](const void* b) { return static_cast<const B*>(b)->initialized_size(); },
    [](void* b) { return static_cast<B*>(b)->unfilled(); },
    [](void* b) { return static_cast<B*>(b)->initialize_unfilled(); },
    [](void* b, size_t n) { static_cast<B*>(b)->advance(n); },
    [](void* b) { static_cast<B*>(b)->clear(); },
    [](const void* b) -> size_t {
      if constexpr (VectoredReadBuf<B>) {
        return static_cast<const B*>(b)->segment_count();
      } else {
        return 1;
      }
    },
    [](const void* b, size_t i) -> std::span<const std::byte> {
      if constexpr (VectoredReadBuf<B>) {
        return static_cast<const B*>(b)->filled_segment(i);
      } else {
        return i == 0 ? static_cast<const B*>(b)->filled()
                      : std::span<const std::byte>();
      }
    },
    [](void* b, std::span<iovec> out) -> size_t {
      if constexpr (VectoredReadBuf<B>) {
        return static_cast<B*>(b)->unfilled_iovecs(out);
      } else {
        UninitSpan u = static_cast<B*>(b)->unfilled();
        if (out.empty() || u.empty()) return 0;
        out[0] = u.as_iovec();
        return 1;
      }
    },
    [](void* b, size_t hint) {
      return read_buf_traits<B>::prepare(*static_cast<B*>(b), hint);
    },
    [](void* b) { read_buf_traits<B>::release_idle(*static_cast<B*>(b)); },
    [](void* b, size_t bytes, size_t asked) {
      read_buf_traits<B>::record_read(*static_cast<B*>(b), bytes, asked);
    },
    [](void* b, size_t min_capacity, size_t keep_from) {
      return read_buf_traits<B>::reserve(*static_cast<B*>(b), min_capacity, keep_from);
    },
    [](const void* b) { return read_buf_traits<B>::max_capacity(*static_cast<const B*>(b)); },
    kErasedOps<B>,
    (ContiguousReadBuf<B> && !VectoredReadBuf<B> ? kReadBufContiguous : 0u) |
        (VectoredReadBuf<B> ? kReadBufVectored : 0u) |
        (read_buf_traits<B>::kDefersMemory ? kReadBufDefersMemory : 0u) |
        (read_buf_traits<B>::kZeroesEveryRead ? kReadBufZeroesEveryRead : 0u) |
        (read_buf_traits<B>::kReserves ? kReadBufReserves : 0u),
};

}  // namespace buf_internal

// DynRef
//
// A non-owning, copyable view of a ReadBuf. Models VectoredReadBuf and
// ContiguousReadBuf (filled() REQUIRES a contiguous buffer).
// REQUIRES: the viewed buffer outlives the view and every copy of it.
// Thread safety: as the viewed buffer.
class DynRef {
 public:
  template <ReadBuf B>
    requires(!std::is_base_of_v<DynRef, B> &&
             (ContiguousReadBuf<B> || VectoredReadBuf<B>))
  explicit DynRef(B& buf)
      : object_(&buf), vtable_(&buf_internal::kDynReadBufVTable<B>) {}

  uint32_t capabilities() const { return vtable_->capabilities; }

  size_t capacity() const { return vtable_->capacity(object_); }
  size_t filled_size() const { return vtable_->filled_size(object_); }
  size_t initialized_size() const { return vtable_->initialized_size(object_); }
  UninitSpan unfilled() { return vtable_->unfilled(object_); }
  std::span<std::byte> initialize_unfilled() {
    return vtable_->initialize_unfilled(object_);
  }
  void advance(size_t n) { vtable_->advance(object_, n); }
  void clear() { vtable_->clear(object_); }

  size_t segment_count() const { return vtable_->segment_count(object_); }
  std::span<const std::byte> filled_segment(size_t i) const {
    return vtable_->filled_segment(object_, i);
  }
  size_t unfilled_iovecs(std::span<iovec> out) {
    return vtable_->unfilled_iovecs(object_, out);
  }

  // REQUIRES: capabilities() & kReadBufContiguous (CHECKed in debug builds;
  // release builds return the first segment).
  std::span<const std::byte> filled() const {
    READBUF_DCHECK((capabilities() & kReadBufContiguous) != 0,
                   "filled() on an erased vectored buffer; use "
                   "for_each_filled() or filled_segment()");
    return filled_segment(0);
  }

  // Hooks, forwarded to the erased type's read_buf_traits.
  absl::Status prepare(size_t size_hint) {
    return vtable_->prepare(object_, size_hint);
  }
  void release_idle() { vtable_->release_idle(object_); }
  void record_read(size_t bytes, size_t asked) {
    vtable_->record_read(object_, bytes, asked);
  }
  // Growth, forwarded (read_buf_traits::reserve / max_capacity): an erased
  // Pooled grows in a buffered reader as it would unerased; an erased
  // fixed-capacity buffer reports its capacity as the maximum, and reserve()
  // fails with FailedPrecondition without touching it.
  absl::Status reserve(size_t min_capacity, size_t keep_from) {
    return vtable_->reserve(object_, min_capacity, keep_from);
  }
  size_t max_capacity() const { return vtable_->max_capacity(object_); }

 protected:
  DynRef(void* object, const buf_internal::DynReadBufVTable* vtable)
      : object_(object), vtable_(vtable) {}

  void* object_;
  const buf_internal::DynReadBufVTable* vtable_;
};

// Dyn
//
// An owning, move-only ReadBuf policy that erases another one. Buffers of at
// most kInlineSize bytes (Uninit, Zeroed, Pooled) live inside the Dyn; larger
// ones are heap-allocated once. A moved-from Dyn may only be assigned to or
// destroyed. A DynRef taken from a Dyn views the erased
// buffer and must not outlive it or survive a move of the Dyn.
// Thread safety: distinct objects are safe; one object is not.
class Dyn : public DynRef {
 public:
  static constexpr size_t kInlineSize = 96;

  // Erases Uninit(capacity).
  explicit Dyn(size_t capacity = kDefaultReadBufCapacity)
      : Dyn(Uninit(capacity)) {}

  template <ReadBuf B>
    requires(!std::is_base_of_v<DynRef, std::remove_cvref_t<B>> &&
             !std::is_lvalue_reference_v<B> &&
             (ContiguousReadBuf<B> || VectoredReadBuf<B>))
  explicit Dyn(B&& buf)
      : DynRef(nullptr, &buf_internal::kDynReadBufVTable<B>) {
    storage_.Emplace(std::move(buf));
    object_ = storage_.get();
  }

  Dyn(Dyn&& other) noexcept : DynRef(nullptr, other.vtable_) {
    storage_.MoveFrom(other.storage_, vtable_->ops);
    object_ = storage_.get();
    other.object_ = nullptr;
  }
  Dyn& operator=(Dyn&& other) noexcept {
    if (this != &other) {
      storage_.Reset(vtable_->ops);
      vtable_ = other.vtable_;
      storage_.MoveFrom(other.storage_, vtable_->ops);
      object_ = storage_.get();
      other.object_ = nullptr;
    }
    return *this;
  }
  ~Dyn() { storage_.Reset(vtable_->ops); }

  // True when the erased buffer lives inside the Dyn (no heap allocation).
  bool is_inline() const { return storage_.is_inline(); }

 private:
  buf_internal::ErasedStorage<kInlineSize> storage_;
};

}  // namespace readbuf

#endif  // READBUF_BUF_DYN_H_
