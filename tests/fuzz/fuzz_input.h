// -----------------------------------------------------------------------------
// File: tests/fuzz/fuzz_input.h
// -----------------------------------------------------------------------------
//
// FuzzInput turns a fuzzer's byte string into decisions: small integers in a
// range, booleans, byte strings. Fuzz targets read their whole script through
// it, so libFuzzer's mutations map to changes in behaviour, and the same
// bytes always replay the same run. It compiles with g++ and clang alike (the
// corpus tests replay seeds without libFuzzer), unlike clang's own
// FuzzedDataProvider.
//
// Once the input is used up every call returns the low end of its range
// (false, 0, an empty string), so a target always terminates.
//
// Example:
//
//   readbuf::fuzz::FuzzInput in(data, size);
//   while (!in.empty()) {
//     switch (in.Range(0, 3)) { ... }
//   }

#ifndef READBUF_TESTS_FUZZ_FUZZ_INPUT_H_
#define READBUF_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace readbuf::fuzz {

// FuzzInput
//
// A cursor over borrowed bytes; copies only what Bytes()/Rest() return.
// REQUIRES: the bytes outlive the FuzzInput.
// Thread safety: one object, one thread.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return offset_ == size_; }
  size_t remaining() const { return size_ - offset_; }

  // The next byte; 0 when the input is used up.
  uint8_t Byte() { return empty() ? 0 : data_[offset_++]; }

  bool Bool() { return (Byte() & 1) != 0; }

  // An integer in [lo, hi], from as few bytes as the span needs.
  // REQUIRES: lo <= hi.
  template <class T>
  T Range(T lo, T hi) {
    static_assert(std::is_integral_v<T>, "Range needs an integer type");
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    if (span == 0) return lo;
    uint64_t value = 0;
    for (uint64_t seen = 0; seen < span && !empty(); seen = (seen << 8) | 0xff) {
      value = (value << 8) | Byte();
    }
    if (span != UINT64_MAX) value %= span + 1;
    return static_cast<T>(static_cast<uint64_t>(lo) + value);
  }

  // Up to n bytes (fewer when the input runs out).
  std::string Bytes(size_t n) {
    if (n > remaining()) n = remaining();
    std::string out(reinterpret_cast<const char*>(data_ + offset_), n);
    offset_ += n;
    return out;
  }

  // A byte string whose length (0..max_len) comes from the input first.
  std::string LengthPrefixed(size_t max_len) { return Bytes(Range<size_t>(0, max_len)); }

  // Everything left.
  std::string Rest() { return Bytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

}  // namespace readbuf::fuzz

#endif  // READBUF_TESTS_FUZZ_FUZZ_INPUT_H_
