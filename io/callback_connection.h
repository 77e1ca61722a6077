// -----------------------------------------------------------------------------
// File: io/callback_connection.h
// -----------------------------------------------------------------------------
//
// Connections served by callbacks instead of a coroutine each, in the spirit
// of libuv's uv_read_start(alloc_cb, read_cb): a CallbackConnections set,
// owned by one task on one core, watches its streams for readability; when
// one has data it takes a block from the core's BufferPool (sized by the
// connection's AdaptiveReadSize), reads into it, calls
// CallbackHandler::OnData with the bytes and gives the block back. An idle
// connection therefore holds its fd registration and this small object only:
// no frame, no task state, no buffer.
//
// Example (an echo):
//
//   class Echo : public readbuf::CallbackHandler {
//     void OnData(readbuf::CallbackConnection& c, std::span<const std::byte> b) override {
//       c.Write(b);
//     }
//   };
//
//   readbuf::Task<void> Serve(readbuf::TcpListener listener, Echo* echo) {
//     readbuf::CallbackConnections conns(*echo);
//     for (;;) {
//       absl::StatusOr<readbuf::TcpStream> s = co_await listener.accept();
//       if (s.ok()) (void)conns.Add(*std::move(s));
//     }
//   }
//
// readbuf::Server::Start(options, std::shared_ptr<CallbackHandler>) runs
// exactly this on every core, with a graceful drain at shutdown.
//
// Writing. CallbackConnection::Write sends what the socket takes at once;
// the rest is COPIED into pool blocks and sent when the socket becomes
// writable. While such bytes wait, the connection reads nothing more, so a
// peer that never reads costs at most what one OnData wrote.
//
// Ending. A connection ends at EOF (after its pending bytes are sent), on an
// error, after Close() (likewise after its pending bytes), or when its set
// is destroyed (the owning task returns or is cancelled, or the runtime
// shuts down). OnClose runs exactly once, then the connection is destroyed
// and its fd closed. Destroying the set ends every connection at once with
// OnClose(CancelledError): cancelling the owning task frees everything.
//
// Fairness: one wake-up reads at most kReadsPerTurn times before the
// connection yields its core to the others (it is queued to run again).
// EAGAIN always ends in a wait for the next readiness edge.
//
// Thread safety: a set, its connections and their callbacks belong to the
// core of the task that constructed the set; call everything there. The
// handler must outlive the set, and a callback must not destroy its own set
// (CHECKed).

#ifndef READBUF_IO_CALLBACK_CONNECTION_H_
#define READBUF_IO_CALLBACK_CONNECTION_H_

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "buf/adaptive_size.h"
#include "io/async_fd.h"
#include "io/internal/fd_state.h"
#include "io/internal/nodes.h"
#include "io/net.h"

namespace readbuf {

class CallbackConnection;
class CallbackConnections;
class PoolBytesChain;

// What a set calls for its connections. Each call runs on the set's core,
// never concurrently, and never inside another of them for the same
// connection.
class CallbackHandler {
 public:
  virtual ~CallbackHandler() = default;
  // A connection joined the set (inside CallbackConnections::Add).
  virtual void OnOpen(CallbackConnection& conn) { (void)conn; }
  // One read's bytes, borrowed from a pool block that goes back to the pool
  // when this returns: copy what must outlive the call. The handler may
  // Write() and Close() here.
  virtual void OnData(CallbackConnection& conn, std::span<const std::byte> bytes) = 0;
  // The connection ends: OK after EOF or Close() (pending bytes sent), else
  // why (a read or write error, or CancelledError when its set was
  // destroyed). `conn` is destroyed right after; Write() is ignored here.
  virtual void OnClose(CallbackConnection& conn, const absl::Status& why) {
    (void)conn, (void)why;
  }
};

// One connection of a set. Not constructible by users: see
// CallbackConnections::Add.
class CallbackConnection {
 public:
  CallbackConnection(const CallbackConnection&) = delete;
  CallbackConnection& operator=(const CallbackConnection&) = delete;

  // Sends `bytes` after every byte written before them: now, as far as the
  // socket takes them; the rest is copied into pool blocks and sent when it
  // becomes writable (reading pauses meanwhile). A write error ends the
  // connection with that error (OnClose). Ignored once the connection is
  // ending (Close() called, or inside OnClose).
  void Write(std::span<const std::byte> bytes);
  // Ends the connection once its pending bytes are sent; OnClose(OK) follows
  // (or the write error). Idempotent.
  void Close();

  // Bytes written but not yet taken by the socket.
  std::size_t pending_bytes() const;
  int fd() const { return fd_.fd(); }
  // For the handler's own per-connection state; readbuf never touches it.
  void* user_data = nullptr;

 private:
  friend class CallbackConnections;
  enum class Wait : std::uint8_t { kNone, kReadable, kWritable, kQueued };
  struct Node : io_internal::RunNode {
    CallbackConnection* self = nullptr;
  };

  CallbackConnection(CallbackConnections* set, AsyncFd fd);
  ~CallbackConnection();

  static void OnRun(io_internal::RunNode* n);
  // Runs the connection until it must wait, yields, or ends (then it is
  // destroyed: the caller must not touch it afterwards).
  void Step();
  // Sends pending bytes. Returns false on a write error (stored in error_).
  bool Flush();
  // Makes the connection run Step soon, from the run queue (a Write or
  // Close from outside a callback changes what it waits for).
  void Requeue();
  void Unhook();
  void Hook(Wait w);
  // OnClose(why), then destruction.
  void End(absl::Status why);

  CallbackConnections* set_;
  AsyncFd fd_;
  // Bytes the socket has not taken yet; allocated only while there are some.
  std::unique_ptr<PoolBytesChain> pending_;
  absl::Status error_;  // a failed Write, reported by the next Step
  CallbackConnection* prev_ = nullptr;  // the set's list
  CallbackConnection* next_ = nullptr;
  AdaptiveReadSize read_size_;
  io_internal::FdHold hold_;  // while waiting for readiness
  Node node_;
  Wait wait_ = Wait::kNone;
  bool in_step_ = false;
  bool close_requested_ = false;
  bool write_failed_ = false;
  bool ending_ = false;
};

// The connections one task serves by callbacks. Lives in that task's frame
// (or anything the task owns); destroying it ends every connection with
// OnClose(CancelledError).
class CallbackConnections {
 public:
  // At most kReadsPerTurn reads per connection per wake-up.
  static constexpr int kReadsPerTurn = 4;

  // `max_read`: the largest read (0: AdaptiveReadSize's default limits,
  // 512 B .. 128 KiB). REQUIRES: on a reactor core, inside a task; `handler`
  // outlives the set.
  explicit CallbackConnections(CallbackHandler& handler, std::size_t max_read = 0);
  ~CallbackConnections();
  CallbackConnections(const CallbackConnections&) = delete;
  CallbackConnections& operator=(const CallbackConnections&) = delete;

  // Adopts a connected stream socket: registers it with this core, calls
  // OnOpen, then serves it. Errors: the registration error (the stream is
  // closed; no callback ran).
  absl::Status Add(AsyncFd fd);
  template <class Stream>
    requires std::derived_from<Stream, io_internal::StreamSocket>
  absl::Status Add(Stream stream) {
    return Add(std::move(stream.async_fd()));
  }

  // Connections in the set now.
  std::size_t size() const { return size_; }

  // `co_await conns.WhenEmpty()` returns once the set has no connection (at
  // once if it has none). One waiter at a time. Cancel-safe.
  class EmptyAwaiter {
   public:
    explicit EmptyAwaiter(CallbackConnections* set) : set_(set) {}
    // Movable until awaited (timeout() takes it by value).
    EmptyAwaiter(EmptyAwaiter&& o) noexcept : set_(o.set_) {}
    EmptyAwaiter(const EmptyAwaiter&) = delete;
    EmptyAwaiter& operator=(const EmptyAwaiter&) = delete;
    ~EmptyAwaiter();
    bool await_ready() const { return set_->size_ == 0; }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() {}

   private:
    CallbackConnections* set_;
    io_internal::RunNode node_;
  };
  EmptyAwaiter WhenEmpty() { return EmptyAwaiter(this); }

 private:
  friend class CallbackConnection;
  void Remove(CallbackConnection* c);

  CallbackHandler& handler_;
  AdaptiveReadSize::Limits limits_;
  io_internal::Core* core_;
  io_internal::Scope* scope_;  // where the connections' callbacks run
  CallbackConnection* head_ = nullptr;
  std::size_t size_ = 0;
  io_internal::RunNode* empty_waiter_ = nullptr;
};

}  // namespace readbuf

#endif  // READBUF_IO_CALLBACK_CONNECTION_H_
