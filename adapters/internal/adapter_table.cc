// See adapter_table.h. Each adapter template is instantiated over a
// declaration-only archetype of the reader it adapts; only its constants are
// used, nothing is called.
#include "adapters/internal/adapter_table.h"

#include <sys/uio.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/any_reader.h"
#include "adapters/async_ready_to_owned.h"
#include "adapters/async_scratch_copy_reader.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/cord_reader.h"
#include "adapters/cord_sink.h"
#include "adapters/fd_reader.h"
#include "adapters/internal/asio_info.h"
#include "adapters/internal/protobuf_info.h"
#include "adapters/internal/tls_info.h"
#include "adapters/file_reader.h"
#include "adapters/istream_reader.h"
#include "adapters/owned_to_buf.h"
#include "adapters/reader_streambuf.h"
#include "adapters/scalar_to_vectored.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "adapters/vectored_to_scalar.h"
#include "buf/dyn.h"
#include "buf/pool_bytes.h"
#include "io/task.h"

namespace readbuf::adapters_internal {
namespace {

struct SpanOnly {
  absl::StatusOr<size_t> read(std::span<std::byte> s);
};
struct BufOnly {
  absl::StatusOr<size_t> read_buf(DynRef b);
};
struct AsyncReady {
  Task<absl::Status> ready();
  absl::StatusOr<size_t> try_read(DynRef b);
};
struct AsyncSpanOnly {
  Task<absl::StatusOr<size_t>> read(std::span<std::byte> s);
};
struct OwnedOnly {
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max);
};

}  // namespace

std::vector<AdapterRow> AllAdapterRows() {
  return {
      AdapterRowOf<SpanToBufReader<SpanOnly>>(),
      AdapterRowOf<BufToSpanReader<BufOnly>>(),
      AdapterRowOf<VectoredToScalarReader<SpanOnly>>(),
      AdapterRowOf<ScalarToVectoredReader<SpanOnly>>(),
      AdapterRowOf<OwnedToBufReader<OwnedOnly>>(),
      AdapterRowOf<BufToOwnedReader<BufOnly>>(),
      AdapterRowOf<ScratchCopyReader<SpanOnly>>(),
      AdapterRowOf<AsyncReadyToOwnedReader<AsyncReady>>(),
      AdapterRowOf<AsyncScratchCopyReader<AsyncSpanOnly>>(),
      AdapterRowOf<AnyReader>(),
      AdapterRowOf<FdReader>(),
      AdapterRowOf<FileReader>(),
      AdapterRowOf<IstreamReader>(),
      AdapterRowOf<ReaderStreambuf<SpanOnly>>(),
      AdapterRowOf<CordReader>(),
      AdapterRowOf<CordSink<OwnedOnly>>(),
      // The Asio adapters' constants live apart from Asio (asio_info.h), so
      // this table does not depend on it.
      AdapterRowOf<AsioStreamReaderInfo>(),
      AdapterRowOf<AsioReadStreamInfo>(),
      // Likewise for protobuf (protobuf_info.h).
      AdapterRowOf<PoolBytesInputStreamInfo>(),
      AdapterRowOf<ConsumingInputStreamInfo>(),
      AdapterRowOf<PoolBlockOutputStreamInfo>(),
      // And for TLS (tls_info.h; the stream itself is io/tls_stream.h).
      AdapterRowOf<TlsStreamInfo>(),
  };
}

std::string AdapterTableMarkdown() {
  std::string out =
      "| adapter | header | from | to | copies | zeroes | notes |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const AdapterRow& row : AllAdapterRows()) {
    ((((out += "| `") += row.name) += "` | `") += row.header) += "` | ";
    ((((out += row.from) += " | ") += row.to) += " | ") +=
        std::to_string(row.copies);
    (((out += " | ") += (row.zeroes ? "yes" : "no")) += " | ") += row.note;
    out += " |\n";
  }
  return out;
}

}  // namespace readbuf::adapters_internal
