// -----------------------------------------------------------------------------
// File: adapters/protobuf_stream.h
// -----------------------------------------------------------------------------
//
// Bridges between Protocol Buffers' zero-copy streams and readbuf's pool
// memory, so a message is parsed straight out of the blocks the network
// reads filled and serialized straight into blocks that writev(2) sends:
//
//   PoolBytesInputStream      a ZeroCopyInputStream over a PoolBytesChain
//                             (buf/pool_bytes_chain.h): Next() hands out each
//                             chunk's own memory. Reads the chain, consumes
//                             nothing.
//   ConsumingInputStream<S>   a ZeroCopyInputStream over any source with
//                             buffer() + consume(n) -- a PoolBytesChain, or a
//                             buffered reader's core Buffered<B>
//                             (buf/buffered.h) -- that consumes what the
//                             parser read, so the source ends exactly after
//                             the message.
//   PoolBlockOutputStream     a ZeroCopyOutputStream into pool blocks; Take()
//                             gives the written bytes as a PoolBytesChain,
//                             whose iovecs() go to writev.
//   ParseDelimitedFrom        one length-delimited message (varint32 size,
//                             then the bytes: protobuf's "delimited" format,
//                             as Java's parseDelimitedFrom and C++'s
//                             util/delimited_message_util.h) from the front
//                             of a chain or buffered source; "need more
//                             bytes" is a value, not an error.
//   ReadDelimitedFrom         the same through a synchronous buffered reader
//                             (BufferedSyncReader), filling as needed.
//   SerializeDelimitedTo      the writing twin, into a PoolBlockOutputStream.
//
// Only the protobuf runtime's lite API is used (MessageLite, CodedInputStream,
// CodedOutputStream), so lite and full messages both work.
//
// Copies: 0 per byte -- the parser reads the blocks in place and the
// serializer writes into them -- except protobuf's own: its parser and
// serializer (EpsCopyInputStream / EpsCopyOutputStream) copy at most 16
// bytes around each chunk boundary through a small patch buffer, and parsing
// copies string and bytes fields into the message, as it always does. The
// varint length prefix (<= 5 bytes) is decoded from a stack copy when it
// crosses a chunk boundary. Zeroes: never; the output blocks are handed to
// the serializer uninitialized, and only the bytes it wrote are handed on.
//
// Dependency: this header and its tests are the only places that need
// protobuf; a workspace declares it with readbuf_protobuf_deps() (deps.bzl),
// and readbuf_cc_proto_library (//:protobuf.bzl) generates message code with
// protoc offline.
//
// Example (a server reading delimited requests, writing delimited replies):
//
//   readbuf::PoolBytesChain in;
//   ... in.append(std::move(pool_bytes_from_a_read));
//   for (;;) {
//     absl::StatusOr<bool> parsed = readbuf::ParseDelimitedFrom(in, request);
//     if (!parsed.ok()) return parsed.status();   // corrupt stream
//     if (!*parsed) break;                        // read more first
//     readbuf::SerializeDelimitedTo(Handle(request), out);  // out: PoolBlockOutputStream
//   }
//   readbuf::PoolBytesChain reply = out.Take();
//   iovec iov[64];
//   writer.writev_all({iov, reply.iovecs(iov)});  // (at most 64 chunks here)

#ifndef READBUF_ADAPTERS_PROTOBUF_STREAM_H_
#define READBUF_ADAPTERS_PROTOBUF_STREAM_H_

#include <algorithm>
#include <array>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/protobuf_info.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pool_bytes_chain.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/message_lite.h"

namespace readbuf {

// A source of bytes read front to back in place: `s.buffer()` (the next
// contiguous bytes; empty when none are held) and `s.consume(n)`, plus
// `copy_to(dst)` (copies the first bytes, consumes nothing) and the number
// of bytes held, `buffered_size()` or `size()`. PoolBytesChain and
// Buffered<B> model it.
template <class S>
concept ConsumableBytes =
    requires(S& s, const S& cs, size_t n, std::span<std::byte> dst) {
      { cs.buffer() } -> std::convertible_to<std::span<const std::byte>>;
      s.consume(n);
      { cs.copy_to(dst) } -> std::same_as<size_t>;
    } &&
    (requires(const S& cs) {
      { cs.buffered_size() } -> std::convertible_to<size_t>;
    } || requires(const S& cs) {
      { cs.size() } -> std::convertible_to<size_t>;
    });

namespace adapters_internal {

// The most one Next() hands out: protobuf counts sizes in int.
inline constexpr size_t kMaxZeroCopyChunk = static_cast<size_t>(INT_MAX);

template <ConsumableBytes S>
size_t HeldBytes(const S& s) {
  if constexpr (requires { s.buffered_size(); }) {
    return s.buffered_size();
  } else {
    return s.size();
  }
}

}  // namespace adapters_internal

// PoolBytesInputStream
//
// Reads a PoolBytesChain from its front without consuming it: Next() gives
// each chunk's own memory (no copy), BackUp(n) returns the last n bytes of
// the last Next() to the stream, Skip(n) moves on (false, at the end, once
// past the last byte), ByteCount() counts the bytes read (handed out minus
// backed up, plus skipped). Chunks longer than INT_MAX come out in pieces.
//
// REQUIRES: the chain outlives the stream and is not changed while it is
// read (the stream keeps a position in it); BackUp(n): 0 <= n <= the bytes
// the last Next() gave and not yet backed up (CHECKed); Skip(n): n >= 0
// (CHECKed).
// Thread safety: distinct objects, safe; one object, unsafe.
// Copies made: none.
class PoolBytesInputStream final
    : public google::protobuf::io::ZeroCopyInputStream,
      public adapters_internal::PoolBytesInputStreamInfo {
 public:
  explicit PoolBytesInputStream(const PoolBytesChain& chain) : chain_(&chain) {}

  bool Next(const void** data, int* size) override;
  void BackUp(int count) override;
  bool Skip(int count) override;
  int64_t ByteCount() const override { return position_; }

 private:
  const PoolBytesChain* chain_;
  size_t index_ = 0;   // chunk of the next byte
  size_t offset_ = 0;  // its offset in that chunk
  size_t last_ = 0;    // bytes of the last Next() not backed up
  int64_t position_ = 0;
};

// ConsumingInputStream<S>
//
// Reads a ConsumableBytes source (a PoolBytesChain, a Buffered<B>) from its
// front and consumes what was read: the bytes of a Next() are consumed on
// the next Next(), Skip(), Commit() or at destruction, so BackUp() can still
// return them. A CodedInputStream backs up what it did not use when it is
// destroyed, so after parsing a message through one the source starts
// exactly after the message. At most `limit` bytes are read (default: all
// the source holds).
//
// REQUIRES: the source outlives the stream and nothing else consumes from
// it or refills it meanwhile; BackUp / Skip as PoolBytesInputStream.
// Thread safety: as the source.
// Copies made: none.
template <ConsumableBytes S>
class ConsumingInputStream final
    : public google::protobuf::io::ZeroCopyInputStream,
      public adapters_internal::ConsumingInputStreamInfo {
 public:
  static constexpr size_t kNoLimit = static_cast<size_t>(-1);

  explicit ConsumingInputStream(S* source, size_t limit = kNoLimit)
      : source_(source), limit_(limit) {}
  ConsumingInputStream(const ConsumingInputStream&) = delete;
  ConsumingInputStream& operator=(const ConsumingInputStream&) = delete;
  ~ConsumingInputStream() override { Commit(); }

  bool Next(const void** data, int* size) override {
    Commit();
    if (read_ >= limit_) return false;
    const std::span<const std::byte> bytes = source_->buffer();
    if (bytes.empty()) return false;
    const size_t n = std::min({bytes.size(), limit_ - read_,
                               adapters_internal::kMaxZeroCopyChunk});
    *data = bytes.data();
    *size = static_cast<int>(n);
    pending_ = n;
    read_ += n;
    return true;
  }

  void BackUp(int count) override {
    READBUF_CHECK(count >= 0 && static_cast<size_t>(count) <= pending_,
                  "BackUp(%d) after a Next() of %zu bytes", count, pending_);
    pending_ -= static_cast<size_t>(count);
    read_ -= static_cast<size_t>(count);
  }

  bool Skip(int count) override {
    READBUF_CHECK(count >= 0, "Skip(%d)", count);
    Commit();
    size_t left = static_cast<size_t>(count);
    while (left > 0) {
      if (read_ >= limit_) return false;
      const size_t held = source_->buffer().size();
      if (held == 0) return false;
      const size_t n = std::min({held, left, limit_ - read_});
      source_->consume(n);
      read_ += n;
      left -= n;
    }
    return true;
  }

  int64_t ByteCount() const override { return static_cast<int64_t>(read_); }

  // Consumes the bytes of the last Next() that were not backed up.
  void Commit() {
    if (pending_ > 0) {
      source_->consume(pending_);
      pending_ = 0;
    }
  }

 private:
  S* source_;
  size_t limit_;
  size_t read_ = 0;     // bytes handed out (and skipped), minus backed up
  size_t pending_ = 0;  // of those, not yet consumed from the source
};

// PoolBlockOutputStreamOptions
//
// Block sizes of a PoolBlockOutputStream.
struct PoolBlockOutputStreamOptions {
  // The first block's size; each further block doubles, up to
  // max_block_size. (Blocks come in the pool's size classes, so a block
  // may be larger.) REQUIRES: 0 < first_block_size <= max_block_size.
  // Default: 4 KiB.
  size_t first_block_size = 4096;
  // Default: 64 KiB.
  size_t max_block_size = 64 * 1024;
  // The pool blocks come from. Default (nullptr): BufferPool::ForThisThread()
  // at construction.
  BufferPool* pool = nullptr;
};

// PoolBlockOutputStream
//
// A ZeroCopyOutputStream whose buffers are pool blocks: Next() hands out the
// rest of the current block (uninitialized), or a new block; BackUp(n)
// returns the last n bytes of the last Next(). Take() hands the written bytes
// out as a PoolBytesChain -- one PoolBytes per block, trimmed to what was
// written -- ready for writev (PoolBytesChain::iovecs) or for a Cord, and the
// stream carries on in a new block.
//
// Errors: Next() returns false when the pool refuses a block (a capped pool
// is full); status() then says why (ResourceExhausted), and a
// CodedOutputStream over the stream reports HadError().
// REQUIRES: Next() and Take() on the pool's owner thread (BufferPool rule);
// BackUp(n): 0 <= n <= the bytes the last Next() gave and not yet backed up
// (CHECKed).
// Thread safety: distinct objects, safe; one object, unsafe. The chain
// Take() returns may go to any thread.
// Copies made: none.
class PoolBlockOutputStream final
    : public google::protobuf::io::ZeroCopyOutputStream,
      public adapters_internal::PoolBlockOutputStreamInfo {
 public:
  using Options = PoolBlockOutputStreamOptions;

  PoolBlockOutputStream() : PoolBlockOutputStream(Options()) {}
  explicit PoolBlockOutputStream(Options options);

  bool Next(void** data, int* size) override;
  void BackUp(int count) override;
  int64_t ByteCount() const override { return byte_count_; }

  // The bytes written since construction or the previous Take(). The rest
  // of the current block is given back; the next Next() starts a new block
  // of first_block_size. ByteCount() keeps counting.
  PoolBytesChain Take();

  // OK, or why the last Next() failed.
  const absl::Status& status() const { return status_; }

 private:
  void Seal();

  Options options_;
  BufferPool* pool_;
  PoolBytesChain done_;
  PoolBlock block_;
  size_t used_ = 0;  // bytes of block_ handed out and not backed up
  size_t last_ = 0;  // bytes of the last Next() not backed up
  size_t next_block_size_;
  int64_t byte_count_ = 0;
  absl::Status status_;
};

// DelimitedOptions
//
// Limits for ParseDelimitedFrom / PeekDelimitedFrame.
struct DelimitedOptions {
  // A length prefix above this fails with ResourceExhausted before any of
  // the message is buffered. REQUIRES: <= INT_MAX.
  // Default: 64 MiB (protobuf's own default total-bytes limit).
  size_t max_message_size = size_t{64} << 20;
};

// The frame at the front of a delimited stream.
struct DelimitedFrame {
  size_t prefix_size = 0;   // bytes of the varint32 length prefix (1..5)
  size_t message_size = 0;  // bytes of the message after it
  size_t total() const { return prefix_size + message_size; }
};

namespace adapters_internal {

// Decodes a varint32 length prefix from the front of `bytes`: the frame;
// nullopt when `bytes` ends inside the prefix. Errors: InvalidArgument for
// a prefix longer than 5 bytes or above 2^32 - 1; ResourceExhausted above
// `max_message_size`.
absl::StatusOr<std::optional<DelimitedFrame>> DecodeDelimitedPrefix(
    std::span<const std::byte> bytes, size_t max_message_size);

// Parses exactly `frame` (prefix included) from `stream`, which starts at
// the frame and holds at least all of it. Returns whether the message parsed
// (proto2 required fields included).
bool ParseDelimitedFrame(google::protobuf::io::ZeroCopyInputStream& stream,
                         const DelimitedFrame& frame,
                         google::protobuf::MessageLite& message);

}  // namespace adapters_internal

// PeekDelimitedFrame(source)
//
// The frame at the front of `source` once its length prefix is all there
// (the message itself may still be arriving: a reader reads until
// held >= frame.total()); nullopt while the prefix is incomplete. Consumes
// nothing.
// Errors: as DecodeDelimitedPrefix (a malformed or oversized prefix: the
// stream cannot be resynchronized).
template <ConsumableBytes S>
absl::StatusOr<std::optional<DelimitedFrame>> PeekDelimitedFrame(
    const S& source, const DelimitedOptions& options = {}) {
  constexpr size_t kMaxPrefix = 5;
  std::span<const std::byte> front = source.buffer();
  std::array<std::byte, kMaxPrefix> copy;
  if (front.size() < kMaxPrefix &&
      adapters_internal::HeldBytes(source) > front.size()) {
    // The prefix may cross into the next chunk: decode it from a copy.
    front = std::span<const std::byte>(copy.data(), source.copy_to(copy));
  }
  return adapters_internal::DecodeDelimitedPrefix(front, options.max_message_size);
}

// ParseDelimitedFrom(source, message)
//
// Parses one length-delimited message from the front of `source` (a
// PoolBytesChain, a Buffered<B>, ...) in place, through a CodedInputStream
// over the source's own memory (ReadVarint32, PushLimit, ParseFromCodedStream).
// Returns true and consumes the frame when it was all there and parsed;
// false, consuming nothing, when more bytes are needed (the prefix or the
// message is incomplete).
// Errors: InvalidArgument for a malformed length prefix, ResourceExhausted
// for one above options.max_message_size (nothing consumed; the stream
// cannot be resynchronized); DataLoss when the message bytes do not parse
// (the frame is consumed: the framing is intact, the caller may go on with
// the next one). `message` is unspecified after an error.
// Copies made: none by this function (see the file comment for protobuf's).
template <ConsumableBytes S>
absl::StatusOr<bool> ParseDelimitedFrom(S& source,
                                        google::protobuf::MessageLite& message,
                                        const DelimitedOptions& options = {}) {
  absl::StatusOr<std::optional<DelimitedFrame>> frame =
      PeekDelimitedFrame(source, options);
  if (!frame.ok()) return frame.status();
  if (!frame->has_value() ||
      adapters_internal::HeldBytes(source) < (*frame)->total()) {
    return false;
  }
  ConsumingInputStream<S> stream(&source, (*frame)->total());
  if (!adapters_internal::ParseDelimitedFrame(stream, **frame, message)) {
    return absl::DataLossError(
        "ParseDelimitedFrom: the " + std::to_string((*frame)->message_size) +
        "-byte message does not parse as " + message.GetTypeName());
  }
  return true;
}

// ReadDelimitedFrom(reader, message)
//
// One length-delimited message through a synchronous buffered reader
// (BufferedSyncReader<R, B>, adapters/buffered_sync_reader.h: anything with
// `core()` -- a Buffered<B> -- and `fill()`): parses it in place from the
// reader's buffer with ParseDelimitedFrom, filling as needed. Returns true
// for a message (consumed), false for a clean EOF (the source ended with
// nothing buffered). The async BufferedReader (io/buffered_reader.h) is the
// same loop with `co_await reader.fill()`.
// Errors: ParseDelimitedFrom's; OutOfRange for EOF inside a frame; the
// reader's fill() errors unchanged (ResourceExhausted when a frame is larger
// than the reader's limit, WouldBlockError() from a non-blocking reader:
// call again to continue).
template <class Reader>
  requires requires(Reader& r) {
    { r.core() } -> ConsumableBytes;
    { r.fill() } -> std::same_as<absl::StatusOr<size_t>>;
  }
absl::StatusOr<bool> ReadDelimitedFrom(Reader& reader,
                                       google::protobuf::MessageLite& message,
                                       const DelimitedOptions& options = {}) {
  for (;;) {
    absl::StatusOr<bool> parsed = ParseDelimitedFrom(reader.core(), message, options);
    if (!parsed.ok() || *parsed) return parsed;
    absl::StatusOr<size_t> n = reader.fill();
    if (!n.ok()) return n.status();
    if (*n == 0) {
      const size_t held = adapters_internal::HeldBytes(reader.core());
      if (held == 0) return false;
      return absl::OutOfRangeError("ReadDelimitedFrom: EOF after " +
                                   std::to_string(held) +
                                   " bytes, inside a length-delimited frame");
    }
  }
}

// SerializeDelimitedTo(message, out)
//
// Appends `message` to `out` as a length-delimited frame (varint32 size,
// then the message), serialized straight into out's pool blocks.
// Errors: InvalidArgument when the message is over INT_MAX bytes;
// out.status() (ResourceExhausted) when the pool refused a block -- `out`
// then holds part of the frame: Take() and drop it.
// Copies made: none by this function.
absl::Status SerializeDelimitedTo(const google::protobuf::MessageLite& message,
                                  PoolBlockOutputStream& out);

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_PROTOBUF_STREAM_H_
