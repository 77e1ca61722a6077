// -----------------------------------------------------------------------------
// File: adapters/internal/protobuf_info.h
// -----------------------------------------------------------------------------
//
// The table constants of the protobuf adapters (adapters/protobuf_stream.h),
// kept apart from protobuf itself so the README table generator lists them
// without depending on it: only the protobuf_* targets may.

#ifndef READBUF_ADAPTERS_INTERNAL_PROTOBUF_INFO_H_
#define READBUF_ADAPTERS_INTERNAL_PROTOBUF_INFO_H_

#include <string_view>

namespace readbuf::adapters_internal {

struct PoolBytesInputStreamInfo {
  static constexpr std::string_view kName = "PoolBytesInputStream";
  static constexpr std::string_view kHeader = "adapters/protobuf_stream.h";
  static constexpr std::string_view kFrom =
      "`PoolBytesChain` (the `PoolBytes` reads handed out)";
  static constexpr std::string_view kTo =
      "protobuf `ZeroCopyInputStream` (`Next`, `BackUp`, `Skip`, `ByteCount`)";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "`Next` hands out each chunk's own block; `ParseDelimitedFrom` parses "
      "varint-length frames in place (protobuf's parser copies <= 16 bytes "
      "at each chunk boundary into its patch buffer)";
};

struct ConsumingInputStreamInfo {
  static constexpr std::string_view kName = "ConsumingInputStream";
  static constexpr std::string_view kHeader = "adapters/protobuf_stream.h";
  static constexpr std::string_view kFrom =
      "`buffer()` + `consume(n)` source (`PoolBytesChain`, `Buffered<B>`)";
  static constexpr std::string_view kTo =
      "protobuf `ZeroCopyInputStream` that consumes what the parser read";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "the source's own memory, consumed on the next `Next`, on `Skip` or at "
      "destruction; `BackUp` returns bytes not yet consumed, so the source "
      "ends exactly after the message";
};

struct PoolBlockOutputStreamInfo {
  static constexpr std::string_view kName = "PoolBlockOutputStream";
  static constexpr std::string_view kHeader = "adapters/protobuf_stream.h";
  static constexpr std::string_view kFrom =
      "protobuf serializer (`ZeroCopyOutputStream`)";
  static constexpr std::string_view kTo =
      "pool blocks as a `PoolBytesChain`, `iovecs()` for `writev`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "serializes straight into uninitialized pool blocks (only written "
      "bytes are handed out); `SerializeDelimitedTo` writes the varint "
      "length first";
};

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_PROTOBUF_INFO_H_
