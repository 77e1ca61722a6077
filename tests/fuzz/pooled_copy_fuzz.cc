// -----------------------------------------------------------------------------
// File: tests/fuzz/pooled_copy_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes pooled_copy (io/pooled_ops.h) on a one-core Runtime (epoll or
// io_uring). The source is one end of a Unix socket pair; a feeder task
// writes the stream into the other end in fuzz-sized chunks, yielding to the
// copy in between, then closes it (EOF) or resets it (close with unread
// bytes queued: the copy's next read fails with ECONNRESET). The destination
// is either a fuzz-driven async writer (short writes, back-pressure, an
// error) or a pipe drained by a fuzz-paced task, with splice(2) allowed or
// not; max_chunk is fuzzed too.
//
// Checks: without an injected fault the copy returns the stream's size and
// the destination received exactly the stream; with one it either fails,
// naming the count it copied ("after N bytes copied") with the destination
// holding exactly the first N bytes, or (a reset after everything was read)
// it completed. The core's pool holds no more memory afterwards than before.
//
// Input layout: [backend][destination][max_chunk: 2][reset][stream length: 3]
// [stream][feeder script length: 2][feeder script][writer / drain script].

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "io/net.h"
#include "io/pipe.h"
#include "io/pooled_ops.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

constexpr size_t kMaxStream = 100000;

// One Runtime per backend for the whole fuzzing process (made on first use,
// never destroyed: libFuzzer exits without unwinding).
Runtime& RuntimeFor(bool uring) {
  static Runtime* runtimes[2] = {nullptr, nullptr};
  Runtime*& rt = runtimes[uring ? 1 : 0];
  if (rt == nullptr) {
    RuntimeOptions options;
    options.n_cores = 1;
    options.backend = uring ? BackendKind::kUring : BackendKind::kEpoll;
    rt = new Runtime(options);
  }
  return *rt;
}

std::span<const std::byte> AsBytes(absl::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// An async writer whose every write is decided by the script: all of it, a
// short write, a wait first (back-pressure), or a reset that stays.
class FuzzWriter {
 public:
  explicit FuzzWriter(FuzzInput* script) : script_(script) {}

  Task<absl::StatusOr<size_t>> write(std::span<const std::byte> data) {
    for (;;) {
      switch (script_->Range(0, 5)) {
        case 1:
          co_await yield_now();
          continue;
        case 2:
        case 3: {
          const size_t n = script_->Range<size_t>(1, data.size());
          taken_.append(reinterpret_cast<const char*>(data.data()), n);
          co_return n;
        }
        case 4:
          if (script_->Byte() < 64) failed_ = true;
          break;
        default:
          break;
      }
      if (failed_) co_return absl::ErrnoToStatus(ECONNRESET, "write(fuzz)");
      taken_.append(reinterpret_cast<const char*>(data.data()), data.size());
      co_return data.size();
    }
  }

  const std::string& taken() const { return taken_; }
  bool failed() const { return failed_; }

 private:
  FuzzInput* script_;
  std::string taken_;
  bool failed_ = false;
};

// Writes `data` into `out` in script-sized chunks (the rest at once when the
// script is used up), yielding between them.
Task<absl::Status> Feed(UnixStream* out, const std::string* data, FuzzInput* script) {
  size_t offset = 0;
  while (offset < data->size()) {
    const size_t left = data->size() - offset;
    const size_t step = script->empty() ? left : script->Range<size_t>(1, left);
    absl::Status s = co_await out->write_all(AsBytes(absl::string_view(*data).substr(offset, step)));
    if (!s.ok()) co_return s;
    offset += step;
    if (script->Bool()) co_await yield_now();
  }
  co_return absl::OkStatus();
}

// Reads `in` to EOF in script-sized reads (64 KiB once the script is used up).
Task<absl::StatusOr<std::string>> Drain(PipeReader* in, FuzzInput* script) {
  std::string got;
  std::string chunk(65536, '\0');
  for (;;) {
    const size_t want = script->empty() ? chunk.size() : script->Range<size_t>(1, chunk.size());
    absl::StatusOr<size_t> n = co_await in->read(
        std::span<std::byte>(reinterpret_cast<std::byte*>(chunk.data()), want));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return got;
    got.append(chunk.data(), *n);
    if (script->Bool()) co_await yield_now();
  }
}

// Parses "(after N bytes copied)" from a pooled_copy error.
size_t CountInMessage(const absl::Status& status) {
  const absl::string_view message = status.message();
  const size_t at = message.rfind("(after ");
  READBUF_CHECK(at != absl::string_view::npos, "error without the count: %s",
                status.ToString().c_str());
  return static_cast<size_t>(std::strtoull(message.data() + at + 7, nullptr, 10));
}

struct Plan {
  bool uring = false;
  int destination = 0;  // 0, 1: FuzzWriter; 2: pipe, splice allowed; 3: pipe, no splice
  size_t max_chunk = 0;
  bool reset = false;
  std::string stream;
  FuzzInput* feeder = nullptr;
  FuzzInput* sink = nullptr;
};

Task<absl::Status> CopyOnce(const Plan* plan) {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
  if (!pair.ok()) co_return pair.status();
  if (plan->max_chunk == 0) {  // rejected up front, nothing read or written
    FuzzWriter sink(plan->sink);
    PooledCopyOptions zero;
    zero.max_chunk = 0;
    absl::StatusOr<uint64_t> copied = co_await pooled_copy(pair->second, sink, zero);
    READBUF_CHECK(copied.status().code() == absl::StatusCode::kInvalidArgument &&
                      sink.taken().empty(),
                  "max_chunk=0 not rejected: %s", copied.status().ToString().c_str());
    co_return absl::OkStatus();
  }
  UnixStream& feeder_end = pair->first;
  UnixStream& source = pair->second;
  if (plan->reset) {  // a byte the feeder never reads: its close becomes a reset
    const std::byte unread{0x55};
    if (absl::Status s = co_await source.write_all({&unread, 1}); !s.ok()) co_return s;
  }
  const size_t pool_before = BufferPool::ForThisThread().Stats().bytes_in_use;
  JoinHandle<absl::Status> feeder = spawn(
      [](UnixStream* out, const Plan* p) -> Task<absl::Status> {
        absl::Status fed = co_await Feed(out, &p->stream, p->feeder);
        out->close();
        co_return fed;
      }(&feeder_end, plan));
  PooledCopyOptions options;
  options.max_chunk = plan->max_chunk;
  absl::StatusOr<uint64_t> copied;
  std::string received;
  bool sink_failed = false;
  if (plan->destination < 2) {
    FuzzWriter sink(plan->sink);
    copied = co_await pooled_copy(source, sink, options);
    received = sink.taken();
    sink_failed = sink.failed();
  } else {
    absl::StatusOr<Pipe> pipe = Pipe::Create();
    if (!pipe.ok()) co_return pipe.status();
    options.allow_splice = plan->destination == 2;
    JoinHandle<absl::StatusOr<std::string>> drain = spawn(Drain(&pipe->reader, plan->sink));
    copied = co_await pooled_copy(source, pipe->writer, options);
    pipe->writer.close();
    absl::StatusOr<std::string> got = co_await drain;
    if (!got.ok()) co_return got.status();
    received = *std::move(got);
  }
  source.close();
  absl::Status fed = co_await feeder;
  READBUF_CHECK(fed.ok() || plan->reset || sink_failed || !copied.ok(), "feeder failed: %s",
                fed.ToString().c_str());
  const std::string& stream = plan->stream;
  READBUF_CHECK(received.size() <= stream.size() &&
                    stream.compare(0, received.size(), received) == 0,
                "the destination got %zu bytes that are not a prefix of the stream",
                received.size());
  if (copied.ok()) {
    READBUF_CHECK(*copied == stream.size() && received == stream,
                  "copy OK with %llu bytes, %zu received, stream %zu",
                  static_cast<unsigned long long>(*copied), received.size(), stream.size());
  } else {
    READBUF_CHECK(plan->reset || sink_failed, "copy failed without a fault: %s",
                  copied.status().ToString().c_str());
    const size_t count = CountInMessage(copied.status());
    READBUF_CHECK(count == received.size() || plan->destination >= 2,
                  "error says %zu bytes copied, the destination took %zu: %s", count,
                  received.size(), copied.status().ToString().c_str());
  }
  READBUF_CHECK(BufferPool::ForThisThread().Stats().bytes_in_use == pool_before,
                "pool memory held after the copy: %zu bytes, %zu before",
                BufferPool::ForThisThread().Stats().bytes_in_use, pool_before);
  co_return absl::OkStatus();
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using readbuf::fuzz::FuzzInput;
  FuzzInput in(data, size);
  readbuf::fuzz::Plan plan;
  plan.uring = in.Bool();
  plan.destination = in.Range(0, 3);
  plan.max_chunk = in.Range<size_t>(0, 65536);
  plan.reset = in.Range(0, 7) == 0;
  plan.stream = in.LengthPrefixed(readbuf::fuzz::kMaxStream);
  const std::string feeder_script = in.LengthPrefixed(4096);
  const std::string sink_script = in.Rest();
  FuzzInput feeder(reinterpret_cast<const uint8_t*>(feeder_script.data()), feeder_script.size());
  FuzzInput sink(reinterpret_cast<const uint8_t*>(sink_script.data()), sink_script.size());
  plan.feeder = &feeder;
  plan.sink = &sink;
  absl::Status s = readbuf::fuzz::RuntimeFor(plan.uring).block_on(readbuf::fuzz::CopyOnce(&plan));
  READBUF_CHECK(s.ok(), "setup failed: %s", s.ToString().c_str());
  return 0;
}
