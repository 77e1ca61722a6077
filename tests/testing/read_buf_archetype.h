// -----------------------------------------------------------------------------
// File: tests/testing/read_buf_archetype.h
// -----------------------------------------------------------------------------
//
// MinimalReadBuf models the ReadBuf concept (buf/read_buf.h) and nothing more:
// no filled() view, no segments, no hooks. Generic code instantiated with it
// proves it asks only for what the concept promises (Asio's archetypes). It
// is a working buffer, so tests can also run it.

#ifndef READBUF_TESTS_TESTING_READ_BUF_ARCHETYPE_H_
#define READBUF_TESTS_TESTING_READ_BUF_ARCHETYPE_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <span>

#include "buf/uninit_span.h"

namespace readbuf::testing {

class MinimalReadBuf {
 public:
  MinimalReadBuf() = default;
  MinimalReadBuf(const MinimalReadBuf&) = delete;
  MinimalReadBuf& operator=(const MinimalReadBuf&) = delete;

  size_t capacity() const { return storage_.size(); }
  size_t filled_size() const { return filled_; }
  size_t initialized_size() const { return initialized_; }
  UninitSpan unfilled() {
    return UninitSpan(storage_.data() + filled_, storage_.size() - filled_);
  }
  std::span<std::byte> initialize_unfilled() {
    std::memset(storage_.data() + initialized_, 0,
                storage_.size() - initialized_);
    initialized_ = storage_.size();
    return {storage_.data() + filled_, storage_.size() - filled_};
  }
  void advance(size_t n) {
    filled_ += std::min(n, storage_.size() - filled_);
    initialized_ = std::max(initialized_, filled_);
  }
  void clear() { filled_ = 0; }

  // Test access only; not part of the concept.
  std::span<const std::byte> peek_filled_for_test() const {
    return {storage_.data(), filled_};
  }

 private:
  std::array<std::byte, 64> storage_;
  size_t filled_ = 0;
  size_t initialized_ = 0;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_READ_BUF_ARCHETYPE_H_
