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
#include "buf/internal/erased_storage.h"
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
  buf_internal::ErasedOps ops;
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
    buf_internal::kErasedOps<W>,
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
    storage_.Emplace(std::move(writer));
  }

  AnyWriter(AnyWriter&& other) noexcept : vtable_(other.vtable_) {
    storage_.MoveFrom(other.storage_, vtable_->ops);
  }
  AnyWriter& operator=(AnyWriter&& other) noexcept {
    if (this != &other) {
      storage_.Reset(vtable_->ops);
      vtable_ = other.vtable_;
      storage_.MoveFrom(other.storage_, vtable_->ops);
    }
    return *this;
  }
  ~AnyWriter() { storage_.Reset(vtable_->ops); }

  uint32_t capabilities() const { return vtable_->capabilities; }
  bool is_inline() const { return storage_.is_inline(); }

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
    READBUF_CHECK(!storage_.empty(), "use of a moved-from AnyWriter");
    return storage_.get();
  }

  const adapters_internal::AnyWriterVTable* vtable_;
  buf_internal::ErasedStorage<kInlineSize> storage_;
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ANY_WRITER_H_
