// -----------------------------------------------------------------------------
// File: adapters/internal/asio_info.h
// -----------------------------------------------------------------------------
//
// The table constants of the Asio adapters (adapters/asio_stream.h), kept
// apart from Asio itself so the README table generator lists them without
// depending on Asio: only the asio_* targets may.

#ifndef READBUF_ADAPTERS_INTERNAL_ASIO_INFO_H_
#define READBUF_ADAPTERS_INTERNAL_ASIO_INFO_H_

#include <string_view>

namespace readbuf::adapters_internal {

struct AsioStreamReaderInfo {
  static constexpr std::string_view kName = "AsioStreamReader";
  static constexpr std::string_view kHeader = "adapters/asio_stream.h";
  static constexpr std::string_view kFrom = "Asio stream (`read_some`, `async_wait`)";
  static constexpr std::string_view kTo =
      "`read`, `read_buf`, `readv`, `try_read`, `async_read_buf`";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "`async_wait` first, then the policy's memory, then one `MSG_DONTWAIT` "
      "read into it (no mode switch per read); any completion token, the "
      "handler's executor and cancellation slot; `error_code` <-> Status";
};

struct AsioReadStreamInfo {
  static constexpr std::string_view kName = "AsioReadStream";
  static constexpr std::string_view kHeader = "adapters/asio_stream.h";
  static constexpr std::string_view kFrom = "any readbuf reader";
  static constexpr std::string_view kTo =
      "Asio SyncReadStream / AsyncReadStream (`async_read_some`)";
  static constexpr int kCopies = 0;
  static constexpr bool kZeroes = false;
  static constexpr std::string_view kNote =
      "reads into Asio's buffers in place (`readv` when the reader has it); "
      "0 bytes -> `asio::error::eof`";
};

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_ASIO_INFO_H_
