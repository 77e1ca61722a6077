// -----------------------------------------------------------------------------
// File: io/when_any.h
// -----------------------------------------------------------------------------
//
// when_any (select): awaits several awaitables at once, inside the awaiting
// task, and yields the result of the first to finish; the others are
// cancelled -- destroyed at their suspension points -- before it returns, the
// way Tokio's select! drops the losing futures. No task is spawned.
//
// Example:
//
//   std::variant<absl::StatusOr<size_t>, absl::StatusOr<int>> r =
//       co_await readbuf::when_any(readbuf::read_into(conn, buf), shutdown->receive());
//   if (r.index() == 1) { ... }  // a shutdown message came first; nothing was read
//
// Semantics:
//  * The result is std::variant<R0, R1, ...> where Ri is what `co_await ai`
//    yields (std::monostate for void); index() says which finished first.
//  * Order: the awaitables start left to right. One that finishes without
//    suspending (ready at once, or a Task that never suspends) wins, and the
//    ones to its right are not started.
//  * Losers: each runs in its own cancellation scope (io/internal/scope.h)
//    and is destroyed, with everything it holds released, before `co_await`
//    returns. If a loser is pinned (a wake-up from another core on its way,
//    an io_uring op the kernel still owns) when_any waits for that event.
//    A loser that had already finished too (its result was ready in the same
//    loop iteration) is destroyed with its result: only one result is
//    delivered, so use when_any with awaitables whose loss is harmless (a
//    read that is cancelled reads nothing; a receive that is cancelled takes
//    no value).
//  * Cancelling the task that awaits when_any cancels every branch.
//
// Pass awaiters as rvalues (moved in before they start); lvalues only for
// types with operator co_await (a JoinHandle, which keeps running when it
// loses: losing the wait does not cancel the task).
// REQUIRES: awaited inside a task on a reactor core.

#ifndef READBUF_IO_WHEN_ANY_H_
#define READBUF_IO_WHEN_ANY_H_

#include <array>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "buf/internal/check.h"
#include "io/internal/awaitable.h"
#include "io/internal/core.h"
#include "io/internal/frame_allocator.h"
#include "io/internal/scope.h"

namespace readbuf {
namespace io_internal {

// The coroutine that runs one branch: awaits the branch's awaiter and, at its
// final suspend point, hands control to `done(owner, index)`, which returns
// what to resume next.
class BranchRunner {
 public:
  struct promise_type {
    static void* operator new(std::size_t size) { return AllocateFrame(size); }
    static void operator delete(void* p, std::size_t size) noexcept { FreeFrame(p, size); }
    BranchRunner get_return_object() noexcept {
      return BranchRunner(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct Final {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        return p.done(p.owner, p.index);
      }
      void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }

    std::coroutine_handle<> (*done)(void* owner, std::size_t index) = nullptr;
    void* owner = nullptr;
    std::size_t index = 0;
  };

  BranchRunner() = default;
  BranchRunner(BranchRunner&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  BranchRunner& operator=(BranchRunner&& o) noexcept {
    Reset();
    h_ = std::exchange(o.h_, {});
    return *this;
  }
  ~BranchRunner() { Reset(); }

  std::coroutine_handle<promise_type> handle() const { return h_; }
  void Reset() {
    if (h_) std::exchange(h_, {}).destroy();
  }

 private:
  explicit BranchRunner(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// Forwards to an awaiter held elsewhere (the branch's, in the owner), whose
// await_ready() the owner has already called (it returned false).
template <class Aw>
struct AwaiterRef {
  Aw& aw;
  bool await_ready() { return false; }
  auto await_suspend(std::coroutine_handle<> h) { return aw.await_suspend(h); }
  decltype(auto) await_resume() { return aw.await_resume(); }
};

// What a branch yields, with void as std::monostate.
template <class R>
using BranchValue = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class Aw, class V>
BranchRunner RunBranch(Aw& aw, std::optional<V>* out) {
  if constexpr (std::is_same_v<V, std::monostate>) {
    co_await AwaiterRef<Aw>{aw};
    out->emplace();
  } else {
    out->emplace(co_await AwaiterRef<Aw>{aw});
  }
}

template <class... A>
class [[nodiscard]] WhenAnyAwaiter {
  static constexpr std::size_t kN = sizeof...(A);
  static_assert(kN >= 1, "when_any needs at least one awaitable");

  // A branch's scope; its cancellation destroys the branch.
  class RaceBranch final : public BranchScope {
   public:
    RaceBranch(Scope* parent, WhenAnyAwaiter* owner, void (*on_cancelled)(WhenAnyAwaiter*, std::size_t),
               std::size_t index)
        : BranchScope(parent), owner_(owner), on_cancelled_(on_cancelled), index_(index) {}
    ~RaceBranch() = default;
    void Cancelled(Core* core) override {
      (void)core;
      on_cancelled_(owner_, index_);
    }

   private:
    WhenAnyAwaiter* owner_;
    void (*on_cancelled_)(WhenAnyAwaiter*, std::size_t);
    std::size_t index_;
  };


  // One branch: its awaitable, its awaiter (unless the awaitable is one),
  // its scope, the runner awaiting it, and its result.
  template <class X>
  struct Branch {
    static constexpr bool kDirect = Awaiter<std::remove_cvref_t<X>>;
    using Inner = AwaiterOf<X>;
    using Value = BranchValue<decltype(std::declval<Inner&>().await_resume())>;
    struct Empty {};

    AwaitableSlot<X> awaitable;
    std::conditional_t<kDirect, Empty, InPlace<Inner>> awaiter;
    InPlace<RaceBranch> scope;
    BranchRunner runner;
    std::optional<Value> result;
    bool started = false;

    Inner& inner() {
      if constexpr (kDirect) {
        return awaitable.get();
      } else {
        return awaiter.get();
      }
    }
    void MakeAwaiter() {
      if constexpr (!kDirect) {
        awaiter.EmplaceFrom([&]() -> Inner { return GetAwaiter(awaitable.forward()); });
      }
    }
    // Destroys everything of the branch but its result.
    void Destroy() {
      runner.Reset();
      if constexpr (!kDirect) awaiter.Destroy();
      awaitable.Destroy();
    }
  };

 public:
  using Result = std::variant<typename Branch<A>::Value...>;

  explicit WhenAnyAwaiter(A&&... a) {
    Init(std::index_sequence_for<A...>(), std::forward<A>(a)...);
  }
  // Movable until awaited (so it nests: timeout(when_any(...), d)).
  WhenAnyAwaiter(WhenAnyAwaiter&& o) {
    READBUF_DCHECK(o.core_ == nullptr && !o.awaited_, "moving a when_any that was awaited");
    MoveFrom(o, std::index_sequence_for<A...>());
  }
  WhenAnyAwaiter& operator=(WhenAnyAwaiter&&) = delete;
  ~WhenAnyAwaiter() {
    ForEach([](auto& b, std::size_t) { b.Destroy(); });
  }

  bool await_ready() {
    awaited_ = true;
    bool ready = false;
    ForEach([&](auto& b, std::size_t i) {
      if (ready) return;
      b.MakeAwaiter();
      if (b.inner().await_ready()) {
        ready = true;
        winner_ = i;
      }
    });
    return ready;
  }

  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) {
    core_ = CurrentCore();
    READBUF_CHECK(core_ != nullptr && core_->current_scope() != nullptr,
                  "when_any() awaited outside a task on a reactor core");
    parent_ = core_->current_scope();
    caller_ = caller;
    resume_.h = caller;
    resume_.scope = parent_;
    starting_ = true;
    ForEach([&](auto& b, std::size_t i) {
      if (winner_ != kNone) return;  // one finished while starting: stop
      b.scope.EmplaceFrom([&] { return RaceBranch(parent_, this, &OnBranchCancelled, i); });
      b.runner = RunBranch(b.inner(), &b.result);
      auto& p = b.runner.handle().promise();
      p.done = &OnBranchDone;
      p.owner = this;
      p.index = i;
      b.started = true;
      core_->set_current_scope(&b.scope.get());
      b.runner.handle().resume();  // runs until the branch first suspends
      core_->set_current_scope(parent_);
    });
    starting_ = false;
    if (winner_ == kNone) return std::noop_coroutine();
    CancelLosers();
    if (cancelling_ == 0) return caller;  // resume the caller now
    return std::noop_coroutine();
  }

  Result await_resume() {
    Result r = Take(std::make_index_sequence<kN>());
    // Back in the caller's scope (after the winner's own await_resume).
    if (core_ != nullptr) core_->set_current_scope(parent_);
    return r;
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};

  template <std::size_t... I, class... X>
  void Init(std::index_sequence<I...>, X&&... a) {
    (std::get<I>(branches_).awaitable.Set(std::forward<X>(a)), ...);
  }
  template <std::size_t... I>
  void MoveFrom(WhenAnyAwaiter& o, std::index_sequence<I...>) {
    (std::get<I>(branches_).awaitable.Set(std::get<I>(o.branches_).awaitable.forward()), ...);
  }

  template <class F>
  void ForEach(F&& f) {
    ForEachImpl(std::forward<F>(f), std::make_index_sequence<kN>());
  }
  template <class F, std::size_t... I>
  void ForEachImpl(F&& f, std::index_sequence<I...>) {
    (f(std::get<I>(branches_), I), ...);
  }

  // A runner finished: the first one wins; the others are cancelled.
  static std::coroutine_handle<> OnBranchDone(void* owner, std::size_t index) {
    auto* self = static_cast<WhenAnyAwaiter*>(owner);
    if (self->winner_ == kNone) self->winner_ = index;
    // While starting, await_suspend decides what runs next.
    if (self->starting_) return std::noop_coroutine();
    self->CancelLosers();
    if (self->cancelling_ == 0) return self->caller_;
    return std::noop_coroutine();
  }

  void CancelLosers() {
    core_->set_current_scope(parent_);
    cancelling_ = 1;  // held while we walk, so a synchronous cancel cannot resume
    ForEach([&](auto& b, std::size_t i) {
      if (i == winner_ || !b.started || !b.scope.engaged()) return;
      ++cancelling_;
      core_->CancelScope(&b.scope.get());
    });
    --cancelling_;
  }

  static void OnBranchCancelled(WhenAnyAwaiter* self, std::size_t index) {
    self->ForEach([&](auto& b, std::size_t i) {
      if (i != index) return;
      Scope* saved = self->core_->current_scope();
      self->core_->set_current_scope(&b.scope.get());
      b.scope.get().node.Unlink();
      b.Destroy();
      self->core_->set_current_scope(saved);
    });
    // The last loser gone while the walk is over: resume the caller (a pin
    // held it up, so this runs from the core's loop).
    if (--self->cancelling_ == 0) self->core_->Schedule(&self->resume_);
  }

  template <std::size_t... I>
  Result Take(std::index_sequence<I...>) {
    std::optional<Result> r;
    ((I == winner_ ? (void)r.emplace(std::in_place_index<I>, TakeOne<I>()) : void()), ...);
    return *std::move(r);
  }

  template <std::size_t I>
  auto TakeOne() {
    auto& b = std::get<I>(branches_);
    using V = typename std::remove_reference_t<decltype(b)>::Value;
    if (!b.result.has_value()) {
      // Finished without suspending: its await_ready was true.
      if constexpr (std::is_same_v<V, std::monostate>) {
        b.inner().await_resume();
        return V{};
      } else {
        return V(b.inner().await_resume());
      }
    }
    return V(*std::move(b.result));
  }

  std::tuple<Branch<A>...> branches_;
  Core* core_ = nullptr;
  Scope* parent_ = nullptr;
  std::coroutine_handle<> caller_;
  RunNode resume_;
  std::size_t winner_ = kNone;
  int cancelling_ = 0;
  bool starting_ = false;
  bool awaited_ = false;
};

}  // namespace io_internal

// See the file comment.
template <class... A>
  requires((!std::is_lvalue_reference_v<A> || io_internal::HasMemberCoAwait<A>) && ...)
io_internal::WhenAnyAwaiter<A...> when_any(A&&... awaitables) {
  return io_internal::WhenAnyAwaiter<A...>(std::forward<A>(awaitables)...);
}

}  // namespace readbuf

#endif  // READBUF_IO_WHEN_ANY_H_
