// -----------------------------------------------------------------------------
// File: buf/internal/erased_storage.h
// -----------------------------------------------------------------------------
//
// ErasedStorage<kInlineSize> owns one object of a type that has been erased
// (Dyn, AnyReader, AnyWriter): inside its own kInlineSize bytes when the type
// fits and moves without throwing, else on the heap. ErasedOps<T> tells it how
// to destroy and move that type; each erased vtable carries one.
//
// Example:
//
//   ErasedStorage<64> storage;
//   storage.Emplace(Uninit(4096));
//   void* object = storage.get();
//   storage.Reset(kErasedOps<Uninit>);

#ifndef READBUF_BUF_INTERNAL_ERASED_STORAGE_H_
#define READBUF_BUF_INTERNAL_ERASED_STORAGE_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "buf/internal/check.h"

namespace readbuf::buf_internal {

// How to destroy and move one erased type.
struct ErasedOps {
  void (*destroy)(void*);                 // ~T() in place
  void (*destroy_heap)(void*);            // delete (T*)
  void (*move_construct)(void*, void*);   // new (to) T(std::move(*from))
};

template <class T>
inline constexpr ErasedOps kErasedOps = {
    [](void* p) { static_cast<T*>(p)->~T(); },
    [](void* p) { delete static_cast<T*>(p); },
    [](void* from, void* to) {
      if constexpr (std::is_move_constructible_v<T>) {
        ::new (to) T(std::move(*static_cast<T*>(from)));
      } else {
        READBUF_CHECK(false, "this erased type cannot be moved");
      }
    },
};

// Thread safety: as the stored object; one thread uses it at a time.
template <size_t kInlineSize>
class ErasedStorage {
 public:
  template <class T>
  static constexpr bool FitsInline() {
    return sizeof(T) <= kInlineSize && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }

  ErasedStorage() = default;
  ErasedStorage(const ErasedStorage&) = delete;
  ErasedStorage& operator=(const ErasedStorage&) = delete;

  // Stores `value` (moved in). REQUIRES: empty().
  template <class T>
  void Emplace(T&& value) {
    using U = std::remove_cvref_t<T>;
    READBUF_DCHECK(object_ == nullptr, "ErasedStorage::Emplace on a full storage");
    if constexpr (FitsInline<U>()) {
      object_ = ::new (static_cast<void*>(inline_)) U(std::forward<T>(value));
      heap_ = false;
    } else {
      object_ = new U(std::forward<T>(value));
      heap_ = true;
    }
  }

  // Takes `other`'s object (a heap object by pointer, an inline one by
  // moving it with `ops`); `other` becomes empty. REQUIRES: empty().
  void MoveFrom(ErasedStorage& other, const ErasedOps& ops) {
    READBUF_DCHECK(object_ == nullptr, "ErasedStorage::MoveFrom into a full storage");
    heap_ = other.heap_;
    if (other.object_ == nullptr) {
      object_ = nullptr;
    } else if (heap_) {
      object_ = other.object_;
    } else {
      ops.move_construct(other.object_, inline_);
      ops.destroy(other.object_);
      object_ = inline_;
    }
    other.object_ = nullptr;
    other.heap_ = false;
  }

  // Destroys the object, if any, with `ops`.
  void Reset(const ErasedOps& ops) {
    if (object_ == nullptr) return;
    if (heap_) {
      ops.destroy_heap(object_);
    } else {
      ops.destroy(object_);
    }
    object_ = nullptr;
    heap_ = false;
  }

  void* get() const { return object_; }
  bool empty() const { return object_ == nullptr; }
  // True when the object lives inside this storage (no allocation).
  bool is_inline() const { return object_ != nullptr && !heap_; }

 private:
  void* object_ = nullptr;
  bool heap_ = false;
  alignas(std::max_align_t) std::byte inline_[kInlineSize];
};

}  // namespace readbuf::buf_internal

#endif  // READBUF_BUF_INTERNAL_ERASED_STORAGE_H_
