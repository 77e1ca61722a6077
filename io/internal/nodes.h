// -----------------------------------------------------------------------------
// File: io/internal/nodes.h
// -----------------------------------------------------------------------------
//
// The two intrusive nodes a core schedules. A RunNode is an entry in the run
// queue: a suspended frame (or a frameless awaiter's retry) to resume. A
// MsgNode is an entry in the core's inbox: work another thread hands to the
// core. Both live inside the object they schedule (a coroutine frame, a task's
// control block, an fd's state), so scheduling never allocates.

#ifndef READBUF_IO_INTERNAL_NODES_H_
#define READBUF_IO_INTERNAL_NODES_H_

#include <coroutine>
#include <cstddef>

namespace readbuf {
namespace io_internal {

class Core;
class Scope;

// ---------------------------------------------------------------------------
// RunNode: an entry in a core's run queue (intrusive, circular, with a
// sentinel). Unlinks itself on destruction.
// ---------------------------------------------------------------------------
struct RunNode {
  RunNode* prev = nullptr;
  RunNode* next = nullptr;
  std::coroutine_handle<> h;
  // The innermost cancellation scope (io/internal/scope.h) the suspension
  // belongs to.
  Scope* scope = nullptr;
  // When set, the core calls this instead of h.resume(): a frameless awaiter
  // (read_into) uses it to retry its operation and either wait again or
  // resume `h` itself. Runs on the core, inside `scope`.
  void (*on_run)(RunNode*) = nullptr;

  RunNode() = default;
  RunNode(const RunNode&) = delete;
  RunNode& operator=(const RunNode&) = delete;
  ~RunNode() { Unlink(); }
  bool linked() const { return next != nullptr; }
  void Unlink() {
    if (next != nullptr) {
      prev->next = next;
      next->prev = prev;
      prev = next = nullptr;
    }
  }
};

// ---------------------------------------------------------------------------
// MsgNode: an entry in a core's MPSC inbox. `handler` runs on the target core
// (also while it shuts down, when Core::accepting() is false).
// ---------------------------------------------------------------------------
struct MsgNode {
  MsgNode* next = nullptr;
  void (*handler)(Core* core, MsgNode* msg) = nullptr;
};

// The object of type T whose member `field` is `*member`: how a handler
// finds the object a MsgNode or RunNode is embedded in.
template <typename T, typename M>
T* ContainerOf(M* member, M T::*field) {
  auto offset = reinterpret_cast<std::size_t>(
      &(static_cast<T*>(nullptr)->*field));
  return reinterpret_cast<T*>(reinterpret_cast<char*>(member) - offset);
}

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_NODES_H_
