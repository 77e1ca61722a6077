// -----------------------------------------------------------------------------
// File: io/internal/awaitable.h
// -----------------------------------------------------------------------------
//
// What a combinator that awaits something on the caller's behalf (timeout(),
// when_any) needs to know about it:
//
//   Awaiter<T>            T has await_ready / await_suspend / await_resume
//   GetAwaiter(a)         `a.operator co_await()` if T has one, else `a`
//   AwaiterOf<A>          the type GetAwaiter returns for an `A&&`
//   AwaitResult<A>        what `co_await a` yields
//   InPlace<T>            storage that constructs a T from a factory's
//                         prvalue without moving it, and destroys it on
//                         demand: awaiters are often neither copyable nor
//                         movable once built.
//   AwaitableSlot<A>      an awaitable a combinator keeps: owned (moved in)
//                         for a value type A, referred to for A = T&.
//
// Only member operator co_await is recognised (readbuf defines no free ones).

#ifndef READBUF_IO_INTERNAL_AWAITABLE_H_
#define READBUF_IO_INTERNAL_AWAITABLE_H_

#include <coroutine>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {

template <class T>
concept Awaiter = requires(T& t, std::coroutine_handle<> h) {
  { t.await_ready() } -> std::convertible_to<bool>;
  t.await_suspend(h);
  t.await_resume();
};

template <class A>
concept HasMemberCoAwait = requires(A&& a) { std::forward<A>(a).operator co_await(); };

template <class A>
decltype(auto) GetAwaiter(A&& a) {
  if constexpr (HasMemberCoAwait<A>) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

template <class A>
using AwaiterOf = std::remove_cvref_t<decltype(GetAwaiter(std::declval<A&&>()))>;

template <class A>
using AwaitResult = decltype(std::declval<AwaiterOf<A>&>().await_resume());

// Storage for one T, constructed in place and destroyed on demand.
template <class T>
class InPlace {
 public:
  InPlace() = default;
  InPlace(const InPlace&) = delete;
  InPlace& operator=(const InPlace&) = delete;
  ~InPlace() { Destroy(); }

  // Constructs the T that `make()` returns, without a move (guaranteed copy
  // elision). REQUIRES: empty.
  template <class F>
  T& EmplaceFrom(F&& make) {
    READBUF_DCHECK(!engaged_, "InPlace constructed twice");
    T* p = ::new (static_cast<void*>(bytes_)) T(std::forward<F>(make)());
    engaged_ = true;
    return *p;
  }
  T& get() {
    READBUF_DCHECK(engaged_, "InPlace used while empty");
    return *std::launder(reinterpret_cast<T*>(bytes_));
  }
  bool engaged() const { return engaged_; }
  void Destroy() {
    if (engaged_) {
      engaged_ = false;
      std::destroy_at(std::launder(reinterpret_cast<T*>(bytes_)));
    }
  }

 private:
  alignas(T) unsigned char bytes_[sizeof(T)];
  bool engaged_ = false;
};

template <class A>
class AwaitableSlot {
 public:
  void Set(A&& a) {
    value_.EmplaceFrom([&]() -> A { return std::move(a); });
  }
  A& get() { return value_.get(); }
  // The awaitable as the expression `co_await` would see (an rvalue).
  A&& forward() { return std::move(value_.get()); }
  void Destroy() { value_.Destroy(); }

 private:
  InPlace<A> value_;
};

template <class T>
class AwaitableSlot<T&> {
 public:
  void Set(T& a) { p_ = &a; }
  T& get() { return *p_; }
  T& forward() { return *p_; }
  void Destroy() {}

 private:
  T* p_ = nullptr;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_AWAITABLE_H_
