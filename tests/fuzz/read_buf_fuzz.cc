// -----------------------------------------------------------------------------
// File: tests/fuzz/read_buf_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes ReadBuf operation sequences on every policy (buf/zeroed.h, uninit.h,
// vectored.h, dyn.h, pooled.h) against a model. The first bytes pick the
// policy and its shape (capacity, segment sizes, pool cap); the rest is a
// script of operations: fill through unfilled(), through
// initialize_unfilled(), through unfilled_iovecs(), advance(0), clear(),
// prepare(), release_idle(), record_read(), Pooled::take_filled(), a move.
//
// Bytes enter the buffer only through the API, and every written byte is
// non-zero and remembered at its stream position. After every step:
//   - filled <= initialized <= capacity;
//   - the filled bytes (for_each_filled) are exactly the bytes written since
//     the last clear(), in order;
//   - the free space (unfilled(), unfilled_iovecs()) is capacity - filled;
// and initialize_unfilled() exposes, at each position, either the byte last
// written there or zero: never a stale or uninitialized byte. (Fresh heap
// and pool memory is not zero, and ASan's allocator fills it with a
// non-zero pattern, so a byte that was never written and not zeroed shows.)

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

constexpr size_t kMaxCapacity = 3000;

// What the buffer must contain: the bytes filled since the last clear(), and
// what was last written at each stream position (0 = never written, or
// zeroed; written bytes are never 0).
struct Model {
  std::string filled;
  std::vector<uint8_t> shadow;
  uint32_t sequence = 0;

  // The next byte to write: never 0, so a zeroed byte and a written one differ.
  uint8_t NextByte() { return static_cast<uint8_t>(sequence++ % 251 + 1); }
  void Resize(size_t capacity) { shadow.assign(capacity, 0); }
};

template <ReadBuf B>
std::string FilledBytes(const B& buf) {
  std::string out;
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
  return out;
}

template <ReadBuf B>
size_t FreeSpace(B& buf) {
  if constexpr (VectoredReadBuf<B>) {
    std::array<iovec, 64> iov;
    const size_t count = buf.unfilled_iovecs(iov);
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) total += iov[i].iov_len;
    return total;
  } else {
    return buf.unfilled().size();
  }
}

template <ReadBuf B>
void CheckInvariants(B& buf, Model& model) {
  const size_t capacity = buf.capacity();
  READBUF_CHECK(buf.filled_size() <= buf.initialized_size() && buf.initialized_size() <= capacity,
                "invariant broken: filled %zu, initialized %zu, capacity %zu", buf.filled_size(),
                buf.initialized_size(), capacity);
  READBUF_CHECK(buf.filled_size() == model.filled.size(), "filled_size %zu, model %zu",
                buf.filled_size(), model.filled.size());
  READBUF_CHECK(model.shadow.size() == capacity, "capacity changed from %zu to %zu unseen",
                model.shadow.size(), capacity);
  READBUF_CHECK(FilledBytes(buf) == model.filled, "filled bytes differ from what was written");
  READBUF_CHECK(FreeSpace(buf) == capacity - buf.filled_size(), "free space %zu, want %zu",
                FreeSpace(buf), capacity - buf.filled_size());
  READBUF_CHECK(remaining(buf) == capacity - buf.filled_size(), "remaining() wrong");
  if constexpr (ContiguousReadBuf<B> && !VectoredReadBuf<B>) {
    READBUF_CHECK(buf.unfilled().size() == capacity - buf.filled_size(), "unfilled() size");
  }
}

// Writes n pattern bytes at the fill point through `write`, then advances.
template <ReadBuf B, class WriteFn>
void FillAndAdvance(B& buf, Model& model, size_t n, WriteFn write) {
  std::string bytes;
  for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(model.NextByte()));
  write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), n));
  const size_t at = model.filled.size();
  for (size_t i = 0; i < n; ++i) model.shadow[at + i] = static_cast<uint8_t>(bytes[i]);
  model.filled += bytes;
  buf.advance(n);
}

// initialize_unfilled() must show, at each position, the last byte written
// there or zero.
template <ReadBuf B>
std::span<std::byte> CheckedInitializeUnfilled(B& buf, Model& model) {
  const size_t at = buf.filled_size();
  const size_t expected_size = buf.unfilled().size();
  std::span<std::byte> region = buf.initialize_unfilled();
  READBUF_CHECK(region.size() == expected_size, "initialize_unfilled() %zu bytes, unfilled() %zu",
                region.size(), expected_size);
  READBUF_CHECK(buf.initialized_size() >= at + region.size() || VectoredReadBuf<B>,
                "initialize_unfilled() left part of its region uninitialized");
  for (size_t i = 0; i < region.size(); ++i) {
    const auto got = static_cast<uint8_t>(region[i]);
    READBUF_CHECK(got == model.shadow[at + i] || got == 0,
                  "initialize_unfilled() exposed byte %u at position %zu (last written: %u)",
                  got, at + i, model.shadow[at + i]);
  }
  return region;
}

template <ReadBuf B>
void RunOps(B buf_value, FuzzInput& in) {
  std::optional<B> buf(std::move(buf_value));
  Model model;
  model.Resize(buf->capacity());
  CheckInvariants(*buf, model);
  while (!in.empty()) {
    switch (in.Range(0, 11)) {
      case 0:
      case 1: {  // a reader writing through unfilled()
        UninitSpan dst = buf->unfilled();
        const size_t n = in.Range<size_t>(0, dst.size());
        FillAndAdvance(*buf, model, n, [&](std::span<const std::byte> b) {
          READBUF_CHECK(dst.write(b) == b.size(), "UninitSpan::write short");
        });
        break;
      }
      case 2: {  // a span<byte> reader: initialized memory
        std::span<std::byte> region = CheckedInitializeUnfilled(*buf, model);
        const size_t n = in.Range<size_t>(0, region.size());
        FillAndAdvance(*buf, model, n, [&](std::span<const std::byte> b) {
          std::copy(b.begin(), b.end(), region.begin());
        });
        break;
      }
      case 3: {  // readv(2): scatter over every free region, in order
        if constexpr (VectoredReadBuf<B>) {
          std::array<iovec, 64> iov;
          const size_t count = buf->unfilled_iovecs(iov);
          size_t total = 0;
          for (size_t i = 0; i < count; ++i) total += iov[i].iov_len;
          const size_t n = in.Range<size_t>(0, total);
          FillAndAdvance(*buf, model, n, [&](std::span<const std::byte> b) {
            size_t done = 0;
            for (size_t i = 0; i < count && done < b.size(); ++i) {
              const size_t step = std::min(iov[i].iov_len, b.size() - done);
              std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(done), step,
                          static_cast<std::byte*>(iov[i].iov_base));
              done += step;
            }
          });
        }
        break;
      }
      case 4:
        buf->advance(0);
        break;
      case 5:
        buf->clear();
        model.filled.clear();
        break;
      case 6: {
        const size_t capacity_before = buf->capacity();
        absl::Status s = read_buf_traits<B>::prepare(*buf, in.Range<size_t>(0, kMaxCapacity));
        if (!s.ok()) {
          READBUF_CHECK(s.code() == absl::StatusCode::kResourceExhausted,
                        "prepare failed with %s", s.ToString().c_str());
          READBUF_CHECK(buf->capacity() == capacity_before, "a failed prepare changed the buffer");
          break;
        }
        if (buf->capacity() != capacity_before) {  // a deferring buffer took a block
          READBUF_CHECK(capacity_before == 0 && model.filled.empty(),
                        "prepare replaced a held block");
          READBUF_CHECK(buf->initialized_size() == 0, "a fresh block counts as initialized");
          model.Resize(buf->capacity());
        }
        if constexpr (read_buf_traits<B>::kZeroesEveryRead) {
          std::fill(model.shadow.begin() + static_cast<std::ptrdiff_t>(model.filled.size()),
                    model.shadow.end(), 0);
          CheckedInitializeUnfilled(*buf, model);
        }
        break;
      }
      case 7: {
        const size_t before = buf->capacity();
        read_buf_traits<B>::release_idle(*buf);
        if (buf->capacity() != before) {
          READBUF_CHECK(read_buf_traits<B>::kDefersMemory && model.filled.empty() &&
                            buf->capacity() == 0,
                        "release_idle dropped a buffer that was in use");
          model.Resize(0);
        }
        break;
      }
      case 8: {
        const size_t asked = in.Range<size_t>(0, kMaxCapacity);
        read_buf_traits<B>::record_read(*buf, in.Range<size_t>(0, asked), asked);
        break;
      }
      case 9: {
        if constexpr (std::is_same_v<B, Pooled>) {
          PoolBytes bytes = buf->take_filled();
          const std::string got(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          READBUF_CHECK(got == model.filled, "take_filled() gave other bytes than were filled");
          READBUF_CHECK(!buf->holds_memory() && buf->capacity() == 0,
                        "take_filled() left memory in the buffer");
          model.filled.clear();
          model.Resize(0);
        }
        break;
      }
      case 10: {  // readbuf::append(): one copy, across segments, advancing
        std::string bytes;
        const size_t n = in.Range<size_t>(0, remaining(*buf) + 8);
        for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(model.NextByte()));
        const size_t at = model.filled.size();
        const size_t copied = append(
            *buf, std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), n));
        READBUF_CHECK(copied == std::min(n, model.shadow.size() - at),
                      "append() copied %zu of %zu", copied, n);
        for (size_t i = 0; i < copied; ++i) model.shadow[at + i] = static_cast<uint8_t>(bytes[i]);
        model.filled += bytes.substr(0, copied);
        break;
      }
      case 11:
      default: {  // move to a new object; the contents go with it
        B moved(std::move(*buf));
        buf.emplace(std::move(moved));
        break;
      }
    }
    CheckInvariants(*buf, model);
  }
}

BufferPoolOptions PoolOptions(FuzzInput& in) {
  BufferPoolOptions options;
  if (in.Bool()) options.max_bytes_in_use = in.Range<size_t>(0, 4 * kMaxCapacity);
  options.zero_on_release = in.Bool();
  return options;
}

Pooled::Options PooledOptions(FuzzInput& in, BufferPool* pool) {
  Pooled::Options options;
  const auto max = in.Range<uint32_t>(1, kMaxCapacity);
  const auto initial = in.Range<uint32_t>(1, max);
  options.sizing = {.min = in.Range<uint32_t>(1, initial), .initial = initial, .max = max};
  options.pool = pool;
  return options;
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  readbuf::fuzz::FuzzInput in(data, size);
  const auto capacity = [&] { return in.Range<size_t>(0, readbuf::fuzz::kMaxCapacity); };
  switch (in.Range(0, 8)) {
    case 0:
      readbuf::fuzz::RunOps(readbuf::Zeroed(capacity()), in);
      break;
    case 1:
      readbuf::fuzz::RunOps(readbuf::Uninit(capacity()), in);
      break;
    case 2:
      readbuf::fuzz::RunOps(readbuf::Vectored<1>(capacity()), in);
      break;
    case 3: {
      const size_t a = in.Range<size_t>(0, 700), b = in.Range<size_t>(0, 700),
                   c = in.Range<size_t>(0, 700), d = in.Range<size_t>(0, 700);
      readbuf::fuzz::RunOps(readbuf::Vectored<4>({a, b, c, d}), in);
      break;
    }
    case 4: {
      const size_t total = capacity();
      readbuf::fuzz::RunOps(readbuf::DynamicVectored(total, in.Range<size_t>(1, 40)), in);
      break;
    }
    case 5:
      readbuf::fuzz::RunOps(readbuf::Dyn(capacity()), in);
      break;
    case 6: {
      const size_t a = in.Range<size_t>(0, 900), b = in.Range<size_t>(0, 900),
                   c = in.Range<size_t>(0, 900);
      readbuf::fuzz::RunOps(readbuf::Dyn(readbuf::Vectored<3>({a, b, c})), in);
      break;
    }
    case 7:
      readbuf::fuzz::RunOps(readbuf::Dyn(readbuf::Zeroed(capacity())), in);
      break;
    default: {
      readbuf::BufferPool pool(readbuf::fuzz::PoolOptions(in));
      readbuf::fuzz::RunOps(readbuf::Pooled(readbuf::fuzz::PooledOptions(in, &pool)), in);
      break;
    }
  }
  return 0;
}
