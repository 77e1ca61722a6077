// -----------------------------------------------------------------------------
// File: tests/testing/read_driver.h
// -----------------------------------------------------------------------------
//
// Drives a reader to EOF the way the io layer does, for conformance tests:
// prepare() the buffer, read once, consume every filled byte
// (for_each_filled), clear(), release_idle(), repeat. Would-block results are
// retried (a sync test has nothing to wait for); any other error stops the
// loop and is returned with the bytes read so far.
//
//   MakeTestBuf<B>(capacity)   a buffer of policy B (Zeroed, Uninit,
//                              Vectored<4>, DynamicVectored, Dyn, Pooled)
//   DrainWithReadBuf(r, buf)   via r.read_buf(buf)
//   DrainWithRead(r, chunk)    via r.read(span)
//   DrainWithReadv(r, sizes)   via r.readv(iovecs of the given sizes)
//   DrainWithReadOwned(r, max) via r.read_owned(max)

#ifndef READBUF_TESTS_TESTING_READ_DRIVER_H_
#define READBUF_TESTS_TESTING_READ_DRIVER_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/io_status.h"

namespace readbuf::testing {

// What a drain produced: the bytes in order, and the first error (OK = EOF).
struct DrainResult {
  std::string bytes;
  absl::Status status;
  size_t reads = 0;
};

inline constexpr size_t kMaxDrainReads = 1'000'000;

template <class B>
B MakeTestBuf(size_t capacity) {
  if constexpr (std::is_same_v<B, Pooled>) {
    const auto c = static_cast<uint32_t>(capacity);
    Pooled::Options options;
    options.sizing.min = std::min(512u, c);
    options.sizing.initial = c;
    options.sizing.max = c;
    return Pooled(options);
  } else if constexpr (std::is_same_v<B, Dyn>) {
    return Dyn(Vectored<3>(capacity));  // an erased scatter buffer
  } else if constexpr (std::is_same_v<B, DynamicVectored>) {
    return DynamicVectored(capacity, 5);
  } else {
    return B(capacity);
  }
}

template <ReadBuf B>
void Consume(B& buf, std::string& out) {
  for_each_filled(buf, [&](std::span<const std::byte> s) {
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  });
}

template <class R, ReadBuf B>
DrainResult DrainWithReadBuf(R& reader, B& buf) {
  DrainResult result;
  while (result.reads < kMaxDrainReads) {
    ++result.reads;
    absl::Status prepared = read_buf_traits<B>::prepare(buf, 0);
    if (!prepared.ok()) {
      result.status = prepared;
      return result;
    }
    absl::StatusOr<size_t> n = reader.read_buf(buf);
    if (!n.ok() && IsWouldBlock(n.status())) continue;
    if (!n.ok()) {
      result.status = n.status();
      return result;
    }
    if (*n == 0) return result;  // EOF
    Consume(buf, result.bytes);
    buf.clear();
    read_buf_traits<B>::release_idle(buf);
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

template <class R>
DrainResult DrainWithRead(R& reader, size_t chunk) {
  DrainResult result;
  std::vector<std::byte> storage(chunk);
  while (result.reads < kMaxDrainReads) {
    ++result.reads;
    absl::StatusOr<size_t> n = reader.read(std::span<std::byte>(storage));
    if (!n.ok() && IsWouldBlock(n.status())) continue;
    if (!n.ok()) {
      result.status = n.status();
      return result;
    }
    if (*n == 0) return result;
    result.bytes.append(reinterpret_cast<const char*>(storage.data()), *n);
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

template <class R>
DrainResult DrainWithReadv(R& reader, std::vector<size_t> sizes) {
  DrainResult result;
  std::vector<std::vector<std::byte>> storage;
  for (size_t s : sizes) storage.emplace_back(s);
  while (result.reads < kMaxDrainReads) {
    ++result.reads;
    std::vector<iovec> iov;
    for (auto& s : storage) iov.push_back(iovec{s.data(), s.size()});
    absl::StatusOr<size_t> n = reader.readv(std::span<const iovec>(iov));
    if (!n.ok() && IsWouldBlock(n.status())) continue;
    if (!n.ok()) {
      result.status = n.status();
      return result;
    }
    if (*n == 0) {
      bool all_empty = true;
      for (size_t s : sizes) all_empty = all_empty && s == 0;
      if (!all_empty) return result;  // EOF
      result.status = absl::InvalidArgumentError("no room");
      return result;
    }
    size_t left = *n;
    for (auto& s : storage) {
      const size_t step = std::min(left, s.size());
      result.bytes.append(reinterpret_cast<const char*>(s.data()), step);
      left -= step;
    }
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

template <class R>
DrainResult DrainWithReadOwned(R& reader, size_t max) {
  DrainResult result;
  while (result.reads < kMaxDrainReads) {
    ++result.reads;
    auto next = reader.read_owned(max);
    if (!next.ok() && IsWouldBlock(next.status())) continue;
    if (!next.ok()) {
      result.status = next.status();
      return result;
    }
    if (!next->has_value()) return result;
    const auto& bytes = **next;
    if (bytes.size() > max) {
      result.status = absl::InternalError("read_owned returned more than max");
      return result;
    }
    result.bytes.append(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size());
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_READ_DRIVER_H_
