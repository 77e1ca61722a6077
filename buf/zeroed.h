// -----------------------------------------------------------------------------
// File: buf/zeroed.h
// -----------------------------------------------------------------------------
//
// Zeroed: the span<byte> world as a ReadBuf policy. Before every read, its
// prepare() hook zeroes the whole unfilled region, as code that allocates
// `std::vector<std::byte>(n)` or memsets a buffer before each read(2) does.
// It is the baseline the other policies are measured against (the zeroing is
// what cost hyper a third of its throughput at 100 KB reads), and what a
// caller must use when it hands the unfilled region to code that reads it.
//
// Example:
//
//   readbuf::Zeroed buf(4096);
//   (void)readbuf::read_buf_traits<readbuf::Zeroed>::prepare(buf, 0);
//   std::span<std::byte> dst = buf.initialize_unfilled();  // all zero

#ifndef READBUF_BUF_ZEROED_H_
#define READBUF_BUF_ZEROED_H_

#include <cstddef>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "buf/read_buf_window.h"
#include "buf/uninit.h"

namespace readbuf {

// Zeroed
//
// Models ContiguousReadBuf. Move-only. Allocates once, in the constructor.
//
// Thread safety: distinct objects are safe; one object is not.
class Zeroed : public ReadBufWindow {
 public:
  static constexpr bool kZeroesEveryRead = true;

  explicit Zeroed(size_t capacity = kDefaultReadBufCapacity)
      : memory_(new std::byte[capacity]) {
    Reset(memory_.get(), capacity, /*initialized=*/0);
  }
  Zeroed(Zeroed&&) noexcept = default;
  Zeroed& operator=(Zeroed&&) noexcept = default;

  // Hook (see read_buf_traits): zeroes [filled, capacity). Every call.
  absl::Status prepare(size_t /*size_hint*/) {
    unfilled().zero();
    MarkAllInitialized();
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<std::byte[]> memory_;
};

}  // namespace readbuf

#endif  // READBUF_BUF_ZEROED_H_
