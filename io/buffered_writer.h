// -----------------------------------------------------------------------------
// File: io/buffered_writer.h
// -----------------------------------------------------------------------------
//
// BufferedWriter<S>: coalesces small writes into one buffer and sends it with
// one gather write (writev_all) on flush(), so a response assembled from a
// status line, a dozen headers and a body costs one syscall, not fourteen.
// The write side of what Tokio's BufWriter and Asio's buffered_write_stream
// do. The buffer is a block from the core's BufferPool taken at the first
// write and given back when a flush empties it, so an idle connection holds
// none (like the Pooled read policy).
//
// Copies: a piece that fits is copied once into the buffer; a piece that
// does not fit is sent together with what is buffered in the same writev,
// without being copied.
//
// Example:
//
//   readbuf::BufferedWriter out(conn);
//   co_await out.write("HTTP/1.1 200 OK\r\n");
//   co_await out.write(absl::StrCat("Content-Length: ", body.size(), "\r\n\r\n"));
//   co_await out.write(body);            // large: sent with the headers, not copied
//   absl::Status s = co_await out.flush();
//
// Errors: the stream's write error; ResourceExhausted if the pool refuses a
// block (then the piece is written through unbuffered). After a failed or
// cancelled write or flush, what reached the stream is unknown: close it.
// REQUIRES: `stream` outlives the writer; data passed to write() stays alive
// until that write's Task is done. On the stream's core.

#ifndef READBUF_IO_BUFFERED_WRITER_H_
#define READBUF_IO_BUFFERED_WRITER_H_

#include <sys/uio.h>

#include <concepts>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "buf/buffer_pool.h"
#include "io/task.h"

namespace readbuf {

// A stream that takes a gather write of everything (TcpStream, UnixStream).
template <class S>
concept GatherWriteAllStream = requires(S& s, std::span<const iovec> iov) {
  { s.writev_all(iov) } -> std::same_as<Task<absl::Status>>;
};

template <GatherWriteAllStream S>
class BufferedWriter {
 public:
  // `capacity`: the buffer's size. REQUIRES: 0 < capacity <= 1 MiB.
  explicit BufferedWriter(S& stream, size_t capacity = 16 * 1024)
      : stream_(stream), capacity_(capacity) {}
  BufferedWriter(const BufferedWriter&) = delete;
  BufferedWriter& operator=(const BufferedWriter&) = delete;

  // Bytes buffered, not yet written.
  size_t buffered() const { return size_; }
  // True while a pool block is held (something is buffered).
  bool holds_memory() const { return !block_.empty(); }

  // Appends `data` without any I/O if it fits; false (nothing appended)
  // otherwise.
  bool try_write(std::span<const std::byte> data) {
    if (data.size() > capacity_ - size_) return false;
    if (data.empty()) return true;
    if (block_.empty()) {
      absl::StatusOr<PoolBlock> b = BufferPool::ForThisThread().Acquire(capacity_);
      if (!b.ok()) return false;
      block_ = *std::move(b);
    }
    std::memcpy(block_.data() + size_, data.data(), data.size());
    size_ += data.size();
    return true;
  }
  bool try_write(std::string_view text) { return try_write(AsBytes(text)); }

  // Appends `data`; when it does not fit, writes the buffer and `data`
  // together (one writev, `data` not copied).
  Task<absl::Status> write(std::span<const std::byte> data) {
    if (try_write(data)) co_return absl::OkStatus();
    iovec iov[2];
    size_t n = 0;
    if (size_ != 0) iov[n++] = iovec{block_.data(), size_};
    iov[n++] = iovec{const_cast<std::byte*>(data.data()), data.size()};
    absl::Status s = co_await stream_.writev_all(std::span<const iovec>(iov, n));
    Reset();
    co_return s;
  }
  Task<absl::Status> write(std::string_view text) { return write(AsBytes(text)); }

  // Writes everything buffered (one gather write) and gives the block back.
  Task<absl::Status> flush() {
    if (size_ == 0) {
      Reset();
      co_return absl::OkStatus();
    }
    iovec iov{block_.data(), size_};
    absl::Status s = co_await stream_.writev_all(std::span<const iovec>(&iov, 1));
    Reset();
    co_return s;
  }

 private:
  static std::span<const std::byte> AsBytes(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
  }
  void Reset() {
    size_ = 0;
    if (!block_.empty()) block_.Release();
  }

  S& stream_;
  size_t capacity_;
  PoolBlock block_;
  size_t size_ = 0;
};

}  // namespace readbuf

#endif  // READBUF_IO_BUFFERED_WRITER_H_
