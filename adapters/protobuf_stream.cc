// See protobuf_stream.h.
#include "adapters/protobuf_stream.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pool_bytes_chain.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/message_lite.h"

namespace readbuf {

// --- PoolBytesInputStream ---------------------------------------------------

bool PoolBytesInputStream::Next(const void** data, int* size) {
  if (index_ >= chain_->chunk_count()) {
    last_ = 0;
    return false;
  }
  const std::span<const std::byte> chunk = chain_->chunk(index_);
  const size_t n =
      std::min(chunk.size() - offset_, adapters_internal::kMaxZeroCopyChunk);
  *data = chunk.data() + offset_;
  *size = static_cast<int>(n);
  offset_ += n;
  if (offset_ == chunk.size()) {
    ++index_;
    offset_ = 0;
  }
  last_ = n;
  position_ += static_cast<int64_t>(n);
  return true;
}

void PoolBytesInputStream::BackUp(int count) {
  READBUF_CHECK(count >= 0 && static_cast<size_t>(count) <= last_,
                "BackUp(%d) after a Next() of %zu bytes", count, last_);
  if (count == 0) return;
  if (offset_ == 0) {  // the last Next() ended its chunk
    --index_;
    offset_ = chain_->chunk(index_).size();
  }
  offset_ -= static_cast<size_t>(count);
  last_ -= static_cast<size_t>(count);
  position_ -= count;
}

bool PoolBytesInputStream::Skip(int count) {
  READBUF_CHECK(count >= 0, "Skip(%d)", count);
  last_ = 0;
  size_t left = static_cast<size_t>(count);
  while (left > 0) {
    if (index_ >= chain_->chunk_count()) return false;  // at the end
    const size_t chunk_size = chain_->chunk(index_).size();
    const size_t n = std::min(chunk_size - offset_, left);
    offset_ += n;
    left -= n;
    position_ += static_cast<int64_t>(n);
    if (offset_ == chunk_size) {
      ++index_;
      offset_ = 0;
    }
  }
  return true;
}

// --- PoolBlockOutputStream --------------------------------------------------

PoolBlockOutputStream::PoolBlockOutputStream(Options options)
    : options_(options),
      pool_(options.pool != nullptr ? options.pool : &BufferPool::ForThisThread()),
      next_block_size_(options.first_block_size) {
  READBUF_CHECK(options_.first_block_size > 0 &&
                    options_.first_block_size <= options_.max_block_size,
                "PoolBlockOutputStream: first_block_size %zu must be in "
                "(0, max_block_size %zu]",
                options_.first_block_size, options_.max_block_size);
}

bool PoolBlockOutputStream::Next(void** data, int* size) {
  if (block_.empty() || used_ == block_.capacity()) {
    Seal();
    absl::StatusOr<PoolBlock> block = pool_->Acquire(next_block_size_);
    if (!block.ok()) {
      status_ = block.status();
      last_ = 0;
      return false;
    }
    block_ = *std::move(block);
    next_block_size_ = std::min(next_block_size_ * 2, options_.max_block_size);
  }
  const size_t n = std::min(block_.capacity() - used_,
                            adapters_internal::kMaxZeroCopyChunk);
  *data = block_.data() + used_;
  *size = static_cast<int>(n);
  used_ += n;
  last_ = n;
  byte_count_ += static_cast<int64_t>(n);
  return true;
}

void PoolBlockOutputStream::BackUp(int count) {
  READBUF_CHECK(count >= 0 && static_cast<size_t>(count) <= last_,
                "BackUp(%d) after a Next() of %zu bytes", count, last_);
  used_ -= static_cast<size_t>(count);
  last_ -= static_cast<size_t>(count);
  byte_count_ -= count;
}

void PoolBlockOutputStream::Seal() {
  if (!block_.empty()) {
    if (used_ > 0) {
      done_.append(PoolBytes(std::move(block_), used_));
    } else {
      block_.Release();
    }
  }
  used_ = 0;
  last_ = 0;
}

PoolBytesChain PoolBlockOutputStream::Take() {
  Seal();
  next_block_size_ = options_.first_block_size;
  return std::move(done_);
}

// --- Delimited framing ------------------------------------------------------

namespace adapters_internal {

absl::StatusOr<std::optional<DelimitedFrame>> DecodeDelimitedPrefix(
    std::span<const std::byte> bytes, size_t max_message_size) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size() && i < 5; ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) != 0) continue;
    if (value > UINT32_MAX) break;  // a fifth byte above 0x0f
    if (value > max_message_size) {
      return absl::ResourceExhaustedError(
          "ParseDelimitedFrom: a " + std::to_string(value) +
          "-byte message exceeds max_message_size=" +
          std::to_string(max_message_size));
    }
    return DelimitedFrame{i + 1, static_cast<size_t>(value)};
  }
  if (bytes.size() < 5 && value <= UINT32_MAX) return std::nullopt;
  return absl::InvalidArgumentError(
      "ParseDelimitedFrom: the length prefix is not a varint32");
}

bool ParseDelimitedFrame(google::protobuf::io::ZeroCopyInputStream& stream,
                         const DelimitedFrame& frame,
                         google::protobuf::MessageLite& message) {
  bool parsed = false;
  {
    google::protobuf::io::CodedInputStream coded(&stream);
    uint32_t size = 0;
    if (coded.ReadVarint32(&size) && size == frame.message_size) {
      const google::protobuf::io::CodedInputStream::Limit limit =
          coded.PushLimit(static_cast<int>(size));
      parsed = message.ParseFromCodedStream(&coded) &&
               coded.ConsumedEntireMessage() && coded.BytesUntilLimit() == 0;
      coded.PopLimit(limit);
    }
  }  // `coded` backs up what it read ahead
  // The frame is consumed whole, parsed or not.
  const int64_t rest = static_cast<int64_t>(frame.total()) - stream.ByteCount();
  if (rest > 0) stream.Skip(static_cast<int>(rest));
  return parsed;
}

}  // namespace adapters_internal

absl::Status SerializeDelimitedTo(const google::protobuf::MessageLite& message,
                                  PoolBlockOutputStream& out) {
  const size_t size = message.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        "SerializeDelimitedTo: a " + std::to_string(size) +
        "-byte message is over protobuf's 2 GiB limit");
  }
  bool failed;
  {
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.WriteVarint32(static_cast<uint32_t>(size));
    message.SerializeWithCachedSizes(&coded);
    coded.Trim();
    failed = coded.HadError();
  }
  if (failed) {
    return out.status().ok()
               ? absl::InternalError("SerializeDelimitedTo: serialization failed")
               : out.status();
  }
  return absl::OkStatus();
}

}  // namespace readbuf
