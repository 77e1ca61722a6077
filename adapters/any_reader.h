// -----------------------------------------------------------------------------
// File: adapters/any_reader.h
// -----------------------------------------------------------------------------
//
// AnyReader: a type-erased synchronous reader, for non-template code and ABI
// boundaries. It holds any reader that has at least one capability of
// io/reader_concepts.h and keeps what the erased type could do as a run-time
// mask, `capabilities()` (kReaderCapabilities<R>): a caller checks
// `capabilities() & kReadVectored` where template code would check the
// concept. This is how type erasure avoids Tokio's `Box<dyn>` losing
// vectored I/O (tokio #3135, rqbit PR #654).
//
// Every member is callable. A member the erased reader lacks either falls
// back, without a copy, to one it has, or fails with a clear
// absl::UnimplementedError:
//
//   member       | native when the mask has | else (fallback, in order)
//   -------------+--------------------------+---------------------------------
//   read(span)   | kReadSpan                | read_buf on the span (borrowed);
//                |                          | readv of one iovec
//   read_buf(b)  | kReadBuf                 | readv over b's free segments;
//                |                          | read into b.initialize_unfilled()
//                |                          | (zeroes never-written bytes once)
//   readv(iov)   | kReadVectored            | one read into the first non-empty
//                |                          | region (read_buf: only written;
//                |                          | read: the region is zeroed first)
//   try_read(b)  | kReadTry                 | Unimplemented: a blocking read
//                |                          | cannot pretend to be non-blocking
//   read_owned   | kReadOwned               | Unimplemented: use BufToOwnedReader
//                |                          | (no copy) or ScratchCopyReader
//
// A reader with only read_owned gives Unimplemented for read/read_buf/readv
// too (wrap it in OwnedToBufReader: that copy should be visible in a type).
//
// Small-buffer optimisation: a reader of at most kInlineSize bytes that is
// nothrow-movable lives inside the AnyReader (no allocation; `is_inline()`);
// a larger one is heap-allocated once, at construction.
// Cost: one indirect call per operation.
//
// Example:
//
//   absl::Status Serve(readbuf::AnyReader reader);       // not a template
//   Serve(readbuf::AnyReader(readbuf::FdReader(fd)));     // inline, vectored
//   if (reader.capabilities() & readbuf::kReadVectored) { ... readv ... }

#ifndef READBUF_ADAPTERS_ANY_READER_H_
#define READBUF_ADAPTERS_ANY_READER_H_

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/read_steps.h"
#include "buf/borrowed_read_buf.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/internal/erased_storage.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "buf/uninit_span.h"
#include "io/reader_concepts.h"

namespace readbuf {
namespace adapters_internal {

struct AnyReaderVTable {
  // Null when the erased reader lacks the capability.
  absl::StatusOr<size_t> (*read)(void*, std::span<std::byte>);
  absl::StatusOr<size_t> (*read_buf)(void*, DynRef&);
  absl::StatusOr<size_t> (*readv)(void*, std::span<const iovec>);
  absl::StatusOr<size_t> (*try_read)(void*, DynRef&);
  absl::StatusOr<std::optional<PoolBytes>> (*read_owned)(void*, size_t);
  buf_internal::ErasedOps ops;
  uint32_t capabilities;
};

template <class R>
inline constexpr AnyReaderVTable kAnyReaderVTable = {
    SpanReader<R> ? +[](void* r, std::span<std::byte> s)
                        -> absl::StatusOr<size_t> {
      if constexpr (SpanReader<R>) {
        return static_cast<R*>(r)->read(s);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                  : nullptr,
    BufReader<R> ? +[](void* r, DynRef& b) -> absl::StatusOr<size_t> {
      if constexpr (BufReader<R>) {
        return CallReadBuf(*static_cast<R*>(r), b);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                 : nullptr,
    VectoredReader<R> ? +[](void* r, std::span<const iovec> iov)
                            -> absl::StatusOr<size_t> {
      if constexpr (VectoredReader<R>) {
        return static_cast<R*>(r)->readv(iov);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                      : nullptr,
    TryReader<R> ? +[](void* r, DynRef& b) -> absl::StatusOr<size_t> {
      if constexpr (TryReader<R>) {
        return CallTryRead(*static_cast<R*>(r), b);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                 : nullptr,
    OwnedReader<R> ? +[](void* r, size_t max)
                         -> absl::StatusOr<std::optional<PoolBytes>> {
      if constexpr (OwnedReader<R>) {
        return static_cast<R*>(r)->read_owned(max);
      } else {
        return absl::InternalError("unreachable");
      }
    }
                   : nullptr,
    buf_internal::kErasedOps<R>,
    kReaderCapabilities<R>,
};

}  // namespace adapters_internal

// AnyReader
//
// Move-only. A moved-from AnyReader may only be assigned to or destroyed
// (calling it is a CHECK failure).
//
// Thread safety: as the erased reader (one thread at a time).
class AnyReader {
 public:
  static constexpr size_t kInlineSize = 64;

  static constexpr std::string_view kName = "AnyReader";
  static constexpr std::string_view kHeader = "adapters/any_reader.h";
  static constexpr std::string_view kFrom = "any reader (one or more capabilities)";
  static constexpr std::string_view kTo =
      "every member; run-time mask `capabilities()`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = true;
  static constexpr std::string_view kNote =
      "type-erased, inline up to 64 B; missing members fall back without a "
      "copy (a span-only reader zeroes) or give Unimplemented";

  // Erases `reader` (moved in). REQUIRES: R has at least one capability.
  template <class R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, AnyReader> &&
             !std::is_lvalue_reference_v<R> && kReaderCapabilities<R> != 0)
  explicit AnyReader(R&& reader)
      : vtable_(&adapters_internal::kAnyReaderVTable<R>) {
    storage_.Emplace(std::move(reader));
  }

  AnyReader(AnyReader&& other) noexcept : vtable_(other.vtable_) {
    storage_.MoveFrom(other.storage_, vtable_->ops);
  }
  AnyReader& operator=(AnyReader&& other) noexcept {
    if (this != &other) {
      storage_.Reset(vtable_->ops);
      vtable_ = other.vtable_;
      storage_.MoveFrom(other.storage_, vtable_->ops);
    }
    return *this;
  }
  ~AnyReader() { storage_.Reset(vtable_->ops); }

  // What the erased reader can do natively: kReadSpan | kReadBuf | ...
  uint32_t capabilities() const { return vtable_->capabilities; }

  // True when the erased reader lives inside this object (no allocation).
  bool is_inline() const { return storage_.is_inline(); }

  // See the table in the file comment for each member's fallback.
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    void* r = Object();
    if (vtable_->read != nullptr) return vtable_->read(r, s);
    if (vtable_->read_buf != nullptr) {
      if (s.empty()) return 0;
      BorrowedReadBuf b(s);
      return ErasedReadBuf(r, b);
    }
    if (vtable_->readv != nullptr) {
      const iovec region{s.data(), s.size()};
      return adapters_internal::CheckReported(
          vtable_->readv(r, std::span<const iovec>(&region, 1)), s.size(),
          "readv");
    }
    return Missing("read");
  }

  // The buffer keeps its type up to the one indirect call into the erased
  // reader: only a reader with read_buf needs it erased to a DynRef.
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    void* r = Object();
    if (vtable_->read_buf != nullptr) return ErasedReadBuf(r, b);
    if (vtable_->readv != nullptr) return ErasedReadvInto(r, b);
    if (vtable_->read != nullptr) {
      return adapters_internal::ZeroOnceInto(
          b, [this, r](std::span<std::byte> s) { return vtable_->read(r, s); });
    }
    return Missing("read_buf");
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    void* r = Object();
    if (vtable_->readv != nullptr) return vtable_->readv(r, iov);
    if (vtable_->read_buf == nullptr && vtable_->read == nullptr) {
      return Missing("readv");
    }
    for (const iovec& region : iov) {
      if (region.iov_len == 0) continue;
      const UninitSpan dst(region.iov_base, region.iov_len);
      if (vtable_->read_buf != nullptr) {
        BorrowedReadBuf b(dst);
        return ErasedReadBuf(r, b);
      }
      return adapters_internal::CheckReported(vtable_->read(r, dst.zero()),
                                              dst.size(), "read");
    }
    return 0;
  }

  template <ReadBuf B>
  absl::StatusOr<size_t> try_read(B& b) {
    void* r = Object();
    if (vtable_->try_read == nullptr) return Missing("try_read");
    if constexpr (std::is_base_of_v<DynRef, B>) {
      return vtable_->try_read(r, b);
    } else {
      DynRef erased(b);
      return vtable_->try_read(r, erased);
    }
  }

  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    void* r = Object();
    if (vtable_->read_owned == nullptr) return Missing("read_owned");
    return vtable_->read_owned(r, max);
  }

 private:
  void* Object() const {
    READBUF_CHECK(!storage_.empty(), "use of a moved-from AnyReader");
    return storage_.get();
  }

  absl::Status Missing(const char* member) const {
    return absl::UnimplementedError(
        std::string("AnyReader::") + member +
        ": the erased reader has no such capability and no copy-free "
        "fallback (capabilities() = " +
        std::to_string(capabilities()) + ")");
  }

  // The erased reader's readv over b's free segments. Out of line: its
  // iovec array would otherwise make every read_buf call carry a 1 KiB
  // stack frame (and a stack-protector check).
  template <ReadBuf B>
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<size_t> ErasedReadvInto(void* r, B& b) {
    return adapters_internal::ScatterInto(
        b, [this, r](std::span<const iovec> iov) { return vtable_->readv(r, iov); });
  }

  // The erased reader's read_buf on b (erased to a DynRef unless it is one),
  // under the debug ReadGuard.
  template <ReadBuf B>
  absl::StatusOr<size_t> ErasedReadBuf(void* r, B& b) {
    if constexpr (std::is_base_of_v<DynRef, B>) {
      return adapters_internal::GuardedReadBuf(
          b, [this, r](DynRef& x) { return vtable_->read_buf(r, x); });
    } else {
      DynRef erased(b);
      return adapters_internal::GuardedReadBuf(
          erased, [this, r](DynRef& x) { return vtable_->read_buf(r, x); });
    }
  }

  const adapters_internal::AnyReaderVTable* vtable_;
  buf_internal::ErasedStorage<kInlineSize> storage_;
};

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_ANY_READER_H_
