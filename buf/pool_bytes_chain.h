// -----------------------------------------------------------------------------
// File: buf/pool_bytes_chain.h
// -----------------------------------------------------------------------------
//
// PoolBytesChain: a queue of PoolBytes read as one byte stream, front to
// back, without joining them -- the shape of what a connection's reads
// produce (each read_owned / pooled_read hands out one PoolBytes) and of what
// a gather write sends (each chunk becomes one iovec). Like Folly's
// IOBufQueue or Asio's buffer sequences, but every chunk owns its pool block.
//
//   append(bytes)       adds a chunk at the back (no copy)
//   buffer()            the first chunk's bytes (the Buffered vocabulary:
//                       buffer() / consume(n), see buf/buffered.h)
//   consume(n)          drops n bytes from the front; a chunk consumed whole
//                       returns its block to its pool at once
//   chunk(i), chunk_count()
//   iovecs(out)         the chunks as iovecs, for writev(2)
//   copy_to(dst)        copies the front bytes out (for small peeks and tests)
//
// Copies made: none, except copy_to(), whose copy is the caller's.
//
// Used by the protobuf bridge (adapters/protobuf_stream.h): a
// ZeroCopyInputStream reads a chain in place, and a ZeroCopyOutputStream
// produces one to be written with writev.
//
// Example:
//
//   readbuf::PoolBytesChain in;
//   while (...) {
//     absl::StatusOr<std::optional<readbuf::PoolBytes>> got = reader.read_owned(64 * 1024);
//     ...
//     in.append(**std::move(got));
//     // parse whole frames from `in`, then in.consume(frame_size)
//   }
//
// Thread safety: distinct objects, safe; one object, unsafe. A chain (and
// its blocks) may be moved to and destroyed on any thread.

#ifndef READBUF_BUF_POOL_BYTES_CHAIN_H_
#define READBUF_BUF_POOL_BYTES_CHAIN_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <deque>
#include <span>
#include <utility>

#include "buf/internal/check.h"
#include "buf/pool_bytes.h"

namespace readbuf {

// PoolBytesChain
//
// Owns its chunks; never holds an empty one (append() drops them).
class PoolBytesChain {
 public:
  PoolBytesChain() = default;
  PoolBytesChain(PoolBytesChain&& other) noexcept
      : chunks_(std::move(other.chunks_)), size_(other.size_) {
    other.chunks_.clear();
    other.size_ = 0;
  }
  PoolBytesChain& operator=(PoolBytesChain&& other) noexcept {
    if (this != &other) {
      chunks_ = std::move(other.chunks_);
      size_ = other.size_;
      other.chunks_.clear();
      other.size_ = 0;
    }
    return *this;
  }
  PoolBytesChain(const PoolBytesChain&) = delete;
  PoolBytesChain& operator=(const PoolBytesChain&) = delete;

  // Total bytes in all chunks.
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t chunk_count() const { return chunks_.size(); }

  // REQUIRES: i < chunk_count().
  std::span<const std::byte> chunk(size_t i) const {
    READBUF_CHECK(i < chunks_.size(), "chunk(%zu) of %zu", i, chunks_.size());
    return chunks_[i].span();
  }

  // Adds `bytes` at the back. An empty PoolBytes is dropped.
  void append(PoolBytes bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    chunks_.push_back(std::move(bytes));
  }
  // Adds every chunk of `other` at the back; `other` is left empty.
  void append(PoolBytesChain&& other) {
    for (PoolBytes& bytes : other.chunks_) append(std::move(bytes));
    other.chunks_.clear();
    other.size_ = 0;
  }

  // The bytes of the first chunk; empty when the chain is.
  std::span<const std::byte> buffer() const {
    return chunks_.empty() ? std::span<const std::byte>() : chunks_.front().span();
  }

  // Drops the first n bytes. Chunks consumed whole are destroyed (their
  // blocks go back to their pools); a partly consumed one is narrowed.
  // REQUIRES: n <= size() (CHECKed).
  void consume(size_t n) {
    READBUF_CHECK(n <= size_, "consume(%zu) past the %zu bytes in the chain", n,
                  size_);
    size_ -= n;
    while (n > 0) {
      PoolBytes& front = chunks_.front();
      if (n < front.size()) {
        front.RemovePrefix(n);
        return;
      }
      n -= front.size();
      chunks_.pop_front();
    }
  }

  // Removes and returns the first chunk (empty PoolBytes if none).
  PoolBytes pop_front() {
    if (chunks_.empty()) return PoolBytes();
    PoolBytes front = std::move(chunks_.front());
    chunks_.pop_front();
    size_ -= front.size();
    return front;
  }

  // Destroys every chunk.
  void clear() {
    chunks_.clear();
    size_ = 0;
  }

  // Copies the first min(dst.size(), size()) bytes into dst; returns how
  // many. Consumes nothing.
  size_t copy_to(std::span<std::byte> dst) const {
    size_t copied = 0;
    for (const PoolBytes& bytes : chunks_) {
      if (copied == dst.size()) break;
      const size_t n = std::min(bytes.size(), dst.size() - copied);
      std::memcpy(dst.data() + copied, bytes.data(), n);
      copied += n;
    }
    return copied;
  }

  // Writes the chunks, front to back, as iovecs into `out`, at most
  // out.size() of them; returns how many. The iovecs point into the chain:
  // valid until it is consumed, appended to or destroyed. After a writev
  // that took k bytes, consume(k).
  size_t iovecs(std::span<iovec> out) const {
    size_t count = 0;
    for (const PoolBytes& bytes : chunks_) {
      if (count == out.size()) break;
      // writev(2) only reads through iov_base.
      out[count++] = iovec{const_cast<std::byte*>(bytes.data()), bytes.size()};
    }
    return count;
  }

 private:
  std::deque<PoolBytes> chunks_;
  size_t size_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_BUF_POOL_BYTES_CHAIN_H_
