// -----------------------------------------------------------------------------
// File: adapters/any_writer.h
// -----------------------------------------------------------------------------
//
// AnyWriter: a type-erased synchronous writer (io/writer_concepts.h), the
// write-side twin of AnyReader. It carries the erased writer's capabilities
// as a run-time mask, so a vectored writer stays vectored behind the erasure
// -- the failure of Tokio's `is_write_vectored() == false` default through
// `Box<dyn AsyncWrite>` (tokio #3135, tonic-tls #58, rqbit PR #654).
//
//   member       | native when the mask has | else (fallback)
//   -------------+--------------------------+---------------------------------
//   write(span)  | kWriteSpan               | writev of one iovec
//   writev(iov)  | kWriteVectored           | write of the first non-empty
//                |                          | region: a short count, which
//                |                          | writev_all() loops over (the
//                |                          | correct default; pushpin #48366
//                |                          | wrote the first region even when
//                |                          | it was empty)
//
// So `writev_all(any_writer, iov)` works for every erased writer, and uses
// writev whenever the erased writer has it. Small-buffer optimisation as in
// AnyReader (kInlineSize bytes, `is_inline()`).
//
// Example:
//
//   readbuf::AnyWriter out(MySocketWriter(fd));
//   if (out.capabilities() & readbuf::kWriteVectored) { ... gather ... }
//   absl::Status s = readbuf::writev_all(out, iov);

#ifndef READBUF_ADAPTERS_ANY_WRITER_H_
#define READBUF_ADAPTERS_ANY_WRITER_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "io/writer_concepts.h"

namespace readbuf {

// Writer capability bits (the write-side kReaderCapabilities).
enum WriterCapability : uint32_t {
  kWriteSpan = 1u << 0,
  kWriteVectored = 1u << 1,
};

template <class W>
inline constexpr uint32_t kWriterCapabilities =
    (SpanWriter<W> ? kWriteSpan : 0u) | (VectoredWriter<W> ? kWriteVectored : 0u);

namespace adapters_internal {

struct AnyWriterVTable {
  absl::StatusOr<size_t> (*write)(void*, std::span<const std::byte>);
  absl::StatusOr<size_t> (*writev)(void*, std::span<const iovec>);
  void (*destroy)(void*);
  void (*destroy_heap)(void*);
  void (*move_construct)(void* from, void* to);
  uint32_t capabilities;
};

template <class W>
inline constexpr AnyWriterVTable kAnyWriterVTable = {
    SpanWriter<W> ? +[](void* w, std::span<const std::byte> s)
                        -> absl::StatusOr<size_t> {
      if constexpr (SpanWriter<W>) {
        return static_cast<W*>(w)->write(s);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                  : nullptr,
    VectoredWriter<W> ? +[](void* w, std::span<const iovec> iov)
                            -> absl::StatusOr<size_t> {
      if constexpr (VectoredWriter<W>) {
        return static_cast<W*>(w)->writev(iov);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                      : nullptr,
    [](void* w) { static_cast<W*>(w)->~W(); },
    [](void* w) { delete static_cast<W*>(w); },
    [](void* from, void* to) {
      ::new (to) W(std::move(*static_cast<W*>(from)));
    },
    kWriterCapabilities<W>,
};

}  // namespace adapters_internal

// AnyWriter
//
// Models SpanWriter and VectoredWriter. Move-only; a moved-from AnyWriter
// may only be assigned to or destroyed.
//
// Thread safety: as the erased writer.
class AnyWriter {
 public:
  static constexpr size_t kInlineSize = 64;

  // Erases `writer` (moved in). REQUIRES: W models SpanWriter or
  // VectoredWriter.
  template <class W>
    requires(!std::is_same_v<std::remove_cvref_t<W>, AnyWriter> &&
             !std::is_lvalue_reference_v<W> && kWriterCapabilities<W> != 0)
  explicit AnyWriter(W&& writer)
      : vtable_(&adapters_internal::kAnyWriterVTable<W>) {
    if constexpr (sizeof(W) <= kInlineSize &&
                  alignof(W) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<W>) {
      object_ = ::new (static_cast<void*>(inline_)) W(std::move(writer));
    } else {
      object_ = new W(std::move(writer));
      heap_ = true;
    }
  }

  AnyWriter(AnyWriter&& other) noexcept : vtable_(other.vtable_) {
    TakeFrom(other);
  }
  AnyWriter& operator=(AnyWriter&& other) noexcept {
    if (this != &other) {
      Destroy();
      vtable_ = other.vtable_;
      TakeFrom(other);
    }
    return *this;
  }
  ~AnyWriter() { Destroy(); }

  uint32_t capabilities() const { return vtable_->capabilities; }
  bool is_inline() const { return object_ != nullptr && !heap_; }

  // Bytes taken from the front of `s` (may be short).
  absl::StatusOr<size_t> write(std::span<const std::byte> s) {
    void* w = Object();
    if (vtable_->write != nullptr) return vtable_->write(w, s);
    const iovec region{const_cast<std::byte*>(s.data()), s.size()};
    return vtable_->writev(w, std::span<const iovec>(&region, 1));
  }

  // Bytes taken from the regions in order (may be short; see the table).
  absl::StatusOr<size_t> writev(std::span<const iovec> iov) {
    void* w = Object();
    if (vtable_->writev != nullptr) return vtable_->writev(w, iov);
    for (const iovec& region : iov) {
      if (region.iov_len == 0) continue;
      return vtable_->write(
          w, std::span<const std::byte>(
                 static_cast<const std::byte*>(region.iov_base), region.iov_len));
    }
    return 0;
  }

 private:
  void* Object() const {
    READBUF_CHECK(object_ != nullptr, "use of a moved-from AnyWriter");
    return object_;
  }

  void TakeFrom(AnyWriter& other) {
    heap_ = other.heap_;
    if (other.object_ == nullptr) {
      object_ = nullptr;
    } else if (heap_) {
      object_ = other.object_;
    } else {
      vtable_->move_construct(other.object_, inline_);
      vtable_->destroy(other.object_);
      object_ = inline_;
    }
    other.object_ = nullptr;
    other.heap_ = false;
  }

  void Destroy() {
    if (object_ == nullptr) return;
    if (heap_) {
      vtable_->destroy_heap(object_);
    } else {
      vtable_->destroy(object_);
    }
    object_ = nullptr;
  }

  const adapters_internal::AnyWriterVTable* vtable_;
  void* object_ = nullptr;
  bool heap_ = false;
  alignas(std::max_align_t) std::byte inline_[kInlineSize];
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ANY_WRITER_H_
