// -----------------------------------------------------------------------------
// File: tests/testing/counting_read_buf.h
// -----------------------------------------------------------------------------
//
// CountingReadBuf: a ContiguousReadBuf that counts, per byte, how many times
// initialize_unfilled() zeroed it, so a test can prove "each byte is zeroed at
// most once" over many reads (not just a total).

#ifndef READBUF_TESTS_TESTING_COUNTING_READ_BUF_H_
#define READBUF_TESTS_TESTING_COUNTING_READ_BUF_H_

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "buf/uninit_span.h"

namespace readbuf::testing {

class CountingReadBuf {
 public:
  explicit CountingReadBuf(size_t capacity)
      : memory_(new std::byte[capacity]), capacity_(capacity),
        zero_counts_(capacity, 0) {}

  size_t capacity() const { return capacity_; }
  size_t filled_size() const { return filled_; }
  size_t initialized_size() const { return initialized_; }
  std::span<const std::byte> filled() const { return {memory_.get(), filled_}; }
  UninitSpan unfilled() {
    return UninitSpan(memory_.get() + filled_, capacity_ - filled_);
  }
  std::span<std::byte> initialize_unfilled() {
    for (size_t i = initialized_; i < capacity_; ++i) ++zero_counts_[i];
    std::memset(memory_.get() + initialized_, 0, capacity_ - initialized_);
    initialized_ = capacity_;
    return {memory_.get() + filled_, capacity_ - filled_};
  }
  void advance(size_t n) {
    filled_ += std::min(n, capacity_ - filled_);
    initialized_ = std::max(initialized_, filled_);
  }
  void clear() { filled_ = 0; }

  // How many times byte i was zeroed.
  int zero_count(size_t i) const { return zero_counts_[i]; }
  int max_zero_count() const {
    return zero_counts_.empty()
               ? 0
               : *std::max_element(zero_counts_.begin(), zero_counts_.end());
  }

 private:
  std::unique_ptr<std::byte[]> memory_;
  size_t capacity_;
  size_t filled_ = 0;
  size_t initialized_ = 0;
  std::vector<int> zero_counts_;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_COUNTING_READ_BUF_H_
