// -----------------------------------------------------------------------------
// File: io/task.h
// -----------------------------------------------------------------------------
//
// Task<T> is readbuf's coroutine type. A Task is lazy: creating one runs
// nothing; its body starts when it is `co_await`ed (or handed to
// Runtime::spawn / spawn). Awaiting a Task transfers control symmetrically, so
// deep chains of awaits do not grow the stack. Exceptions are not part of the
// model: results are values (typically absl::Status / absl::StatusOr<T>), and
// an exception escaping a Task body terminates the program.
//
// Frames come from a per-core size-class freelist when created on a reactor
// core (see io/internal/frame_allocator.h), and from the global allocator
// elsewhere. A Task must run on a reactor core (spawn it, or block_on it).
//
// Example:
//
//   readbuf::Task<int> Add(int a, int b) { co_return a + b; }
//   readbuf::Task<void> Caller() {
//     int x = co_await Add(1, 2);
//     ...
//   }
//
// Thread safety: a Task is a move-only handle; one thread uses it at a time.

#ifndef READBUF_IO_TASK_H_
#define READBUF_IO_TASK_H_

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/frame_allocator.h"

namespace readbuf {

template <typename T = void>
class Task;

namespace io_internal {

class TaskPromiseBase {
 public:
  static void* operator new(std::size_t size) { return AllocateFrame(size); }
  static void operator delete(void* p, std::size_t size) noexcept {
    FreeFrame(p, size);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(
        std::coroutine_handle<Promise> h) noexcept {
      TaskPromiseBase& p = h.promise();
      // A spawned task's outermost frame has no continuation: it stays
      // suspended here until its core takes the result and destroys it.
      if (!p.continuation_) return std::noop_coroutine();
      if (ShouldBounceTransfer()) {
        BounceTo(p.continuation_);
        return std::noop_coroutine();
      }
      return p.continuation_;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { std::terminate(); }

  // The awaiting frame; null for a spawned task's outermost frame. The only
  // per-frame state: a bounced transfer uses its scope's node (see
  // ShouldBounceTransfer in io/internal/core.h).
  std::coroutine_handle<> continuation_;
};

template <typename T>
class TaskPromise : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <typename U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value_.emplace(std::forward<U>(v));
  }
  T TakeResult() {
    READBUF_DCHECK(value_.has_value(), "Task finished without a value");
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void TakeResult() noexcept {}
};

// Lets the runtime take the coroutine out of a Task to run it as a spawned
// task's outermost frame.
struct TaskAccess {
  template <typename T>
  static std::coroutine_handle<TaskPromise<T>> Release(Task<T>& task) noexcept {
    return std::exchange(task.h_, {});
  }
};

}  // namespace io_internal

// Task<T>
//
// A lazily started coroutine producing a T. Awaiting it (once:
// `co_await MakeTask()` or `co_await std::move(task)`; a second await
// CHECK-fails) runs it to completion and yields its result. Destroying an
// unstarted or finished Task frees its frame.
template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = io_internal::TaskPromise<T>;
  using value_type = T;

  Task() noexcept = default;
  // REQUIRES: `other` is not being awaited (CHECKed): the awaiting frame
  // uses the Task object itself (see await_suspend).
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) { CheckNotAwaited(h_); }
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      CheckNotAwaited(other.h_);
      Reset();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  // True if this Task holds a coroutine (not default-constructed or moved).
  bool valid() const noexcept { return static_cast<bool>(h_); }

  // A Task is its own awaiter, so awaiting one keeps no second object in
  // the awaiting frame (8 bytes of every frame that awaits a Task).
  // REQUIRES: valid(); not awaited before (CHECKed); the Task stays where it
  // is until the await ends (moving it meanwhile CHECK-fails).
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    READBUF_CHECK(h_ && !h_.promise().continuation_ && !h_.done(),
                  "co_await on an empty Task or one awaited before");
    h_.promise().continuation_ = caller;
    if (io_internal::ShouldBounceTransfer()) {
      io_internal::BounceTo(h_);
      return std::noop_coroutine();
    }
    return h_;
  }
  T await_resume() { return h_.promise().TakeResult(); }

 private:
  friend class io_internal::TaskPromise<T>;
  friend struct io_internal::TaskAccess;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  void Reset() noexcept {
    if (h_) std::exchange(h_, {}).destroy();
  }
  // An awaited Task's coroutine has a continuation and has not finished.
  static void CheckNotAwaited(std::coroutine_handle<promise_type> h) noexcept {
    READBUF_CHECK(!h || !h.promise().continuation_ || h.done(),
                  "a Task moved while it is awaited");
  }

  std::coroutine_handle<promise_type> h_;
};

// Implementation details follow.

namespace io_internal {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(
      std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_TASK_H_
