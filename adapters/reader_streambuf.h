// -----------------------------------------------------------------------------
// File: adapters/reader_streambuf.h
// -----------------------------------------------------------------------------
//
// ReaderStreambuf<R, B>: any readbuf reader as a `std::streambuf`, so code
// written against iostreams (`std::istream in(&sb)`, parsers, getline) can
// read from it. Each underflow() reads once into a buffer of policy B
// (Uninit by default: with a span-only reader it is zeroed once, then never
// again; with a read_buf/readv reader never) and exposes the filled bytes as
// the get area; the istream then copies from there to its caller.
//
// Errors cannot travel through a streambuf, so underflow() returns EOF and
// the status is kept: `status()` tells a real EOF (OK) from an error
// (unchanged from the reader). A would-block from a non-blocking reader is
// an error here too (iostreams are blocking). The stream sees EOF either way.
//
// Copies: 1 (get area -> the istream's caller). Zeroes: as SpanToBufReader.
//
// Example:
//
//   readbuf::ReaderStreambuf sb(readbuf::FdReader(fd));
//   std::istream in(&sb);
//   std::string line;
//   while (std::getline(in, line)) Handle(line);
//   if (!sb.status().ok()) return sb.status();

#ifndef READBUF_ADAPTERS_READER_STREAMBUF_H_
#define READBUF_ADAPTERS_READER_STREAMBUF_H_

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <streambuf>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/adapter_util.h"
#include "adapters/internal/read_steps.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/uninit_span.h"
#include "io/reader_concepts.h"

namespace readbuf {

// ReaderStreambuf<R, B>
//
// R is the reader (by value), or T* to borrow one. REQUIRES: Inner<R>
// models BufReader, VectoredReader or SpanReader; B is a ContiguousReadBuf
// constructible from a capacity.
//
// Thread safety: as any streambuf (one thread at a time).
template <class R, class B = Uninit>
  requires(BufReader<adapters_internal::Inner<R>> ||
           VectoredReader<adapters_internal::Inner<R>> ||
           SpanReader<adapters_internal::Inner<R>>) &&
          ContiguousReadBuf<B>
class ReaderStreambuf : public std::streambuf {
 public:
  using InnerReader = adapters_internal::Inner<R>;

  static constexpr std::string_view kName = "ReaderStreambuf";
  static constexpr std::string_view kHeader = "adapters/reader_streambuf.h";
  static constexpr std::string_view kFrom = "any readbuf reader";
  static constexpr std::string_view kTo = "`std::streambuf` (for `std::istream`)";
  static constexpr int kCopies = 1;
  static constexpr bool kZeroes =
      !BufReader<InnerReader> && !VectoredReader<InnerReader>;
  static constexpr std::string_view kNote =
      "get area is a ReadBuf (zeroed once at most); the istream copies out; "
      "errors kept in `status()`";

  explicit ReaderStreambuf(R reader, size_t capacity = kDefaultReadBufCapacity)
      : reader_(std::move(reader)), buf_(capacity) {}

  ReaderStreambuf(const ReaderStreambuf&) = delete;
  ReaderStreambuf& operator=(const ReaderStreambuf&) = delete;

  InnerReader& inner() { return reader_.get(); }

  // OK after a real EOF (or while reading); else the reader's error.
  const absl::Status& status() const { return status_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (!status_.ok()) return traits_type::eof();
    buf_.clear();
    absl::Status prepared = read_buf_traits<B>::prepare(buf_, 0);
    if (!prepared.ok()) {
      status_ = prepared;
      return traits_type::eof();
    }
    absl::StatusOr<size_t> n = ReadOnce();
    if (!n.ok()) {
      status_ = n.status();
      return traits_type::eof();
    }
    if (*n == 0) return traits_type::eof();
    // The get area is only read by the stream (pbackfail is not
    // overridden, so putback never writes), hence the const_cast.
    char* begin = const_cast<char*>(
        reinterpret_cast<const char*>(buf_.filled().data()));
    setg(begin, begin, begin + buf_.filled_size());
    return traits_type::to_int_type(*gptr());
  }

  std::streamsize showmanyc() override {
    return status_.ok() ? 0 : -1;
  }

 private:
  absl::StatusOr<size_t> ReadOnce() {
    // read_buf, else one readv region, else read into the zeroed-once buffer.
    return adapters_internal::FillOnce(inner(), buf_);
  }

  adapters_internal::InnerHolder<R> reader_;
  B buf_;
  absl::Status status_;
};

template <class R>
ReaderStreambuf(R) -> ReaderStreambuf<R>;
template <class R>
ReaderStreambuf(R, size_t) -> ReaderStreambuf<R>;

}  // namespace readbuf

#endif  // READBUF_ADAPTERS_READER_STREAMBUF_H_
