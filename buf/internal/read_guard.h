// -----------------------------------------------------------------------------
// File: buf/internal/read_guard.h
// -----------------------------------------------------------------------------
//
// ReadGuard catches a reader that breaks the ReadBuf contract, in debug builds:
// one that swapped the buffer for another (tokio #2827), resized it, or
// reported a byte count other than what it advanced. The io layer and the
// adapters wrap every call into a reader with one. In release builds
// (NDEBUG) it is empty and compiles away.
//
// Example:
//
//   buf_internal::ReadGuard guard(buf);
//   size_t n = reader.read(buf);   // reader advances buf itself
//   guard.Verify(n);

#ifndef READBUF_BUF_INTERNAL_READ_GUARD_H_
#define READBUF_BUF_INTERNAL_READ_GUARD_H_

#include <cstddef>

#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/read_buf.h"

namespace readbuf::buf_internal {

template <ReadBuf B>
class ReadGuard {
 public:
  explicit ReadGuard(B& buf)
#ifndef NDEBUG
      : buf_(buf),
        start_(buf.unfilled().write_ptr()),
        capacity_(buf.capacity()),
        filled_(buf.filled_size())
#endif
  {
    (void)buf;
  }

  // REQUIRES (CHECKed in debug builds): the reader left the same memory in
  // place and advanced exactly `reported` bytes.
  void Verify(size_t reported) const {
#ifndef NDEBUG
    READBUF_CHECK(buf_.capacity() == capacity_,
                  "reader changed the buffer's capacity (%zu -> %zu): it "
                  "swapped or replaced the buffer",
                  capacity_, buf_.capacity());
    READBUF_CHECK(buf_.filled_size() == filled_ + reported,
                  "reader reported %zu bytes but advanced the buffer by %zu",
                  reported, buf_.filled_size() - filled_);
    // An erased buffer (Dyn, DynRef) models both concepts; whether it is
    // contiguous is known only at run time.
    bool contiguous = ContiguousReadBuf<B> && !VectoredReadBuf<B>;
    if constexpr (requires { buf_.capabilities(); }) {
      contiguous = (buf_.capabilities() & kReadBufContiguous) != 0;
    }
    if constexpr (ContiguousReadBuf<B>) {
      if (contiguous) {
        READBUF_CHECK(static_cast<const void*>(buf_.filled().data() + filled_) ==
                          start_,
                      "reader swapped the buffer's memory");
        return;
      }
    }
    if (buf_.filled_size() == filled_) {
      READBUF_CHECK(buf_.unfilled().write_ptr() == start_,
                    "reader swapped the buffer's memory");
    }
#else
    (void)reported;
#endif
  }

 private:
#ifndef NDEBUG
  B& buf_;
  void* start_;
  size_t capacity_;
  size_t filled_;
#endif
};

}  // namespace readbuf::buf_internal

#endif  // READBUF_BUF_INTERNAL_READ_GUARD_H_
