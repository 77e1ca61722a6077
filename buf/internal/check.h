// -----------------------------------------------------------------------------
// File: buf/internal/check.h
// -----------------------------------------------------------------------------
//
// READBUF_CHECK and READBUF_DCHECK: precondition checks that print a message
// and abort. Abseil 20220623 (Debian's) predates absl/log, so readbuf carries
// these two macros itself.
//
//   READBUF_CHECK(n <= capacity, "advance(%zu) past capacity %zu", n, capacity);
//
// READBUF_CHECK is always on. READBUF_DCHECK is on unless NDEBUG is defined
// (`--config=opt`); in release builds its condition is not evaluated.

#ifndef READBUF_BUF_INTERNAL_CHECK_H_
#define READBUF_BUF_INTERNAL_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define READBUF_CHECK(condition, ...)                                      \
  do {                                                                     \
    if (__builtin_expect(!(condition), 0)) {                               \
      std::fprintf(stderr, "readbuf CHECK failed at %s:%d: %s: ", __FILE__, \
                   __LINE__, #condition);                                  \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                          \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

#ifdef NDEBUG
#define READBUF_DCHECK(condition, ...) \
  do {                                 \
    if (false && (condition)) {        \
    }                                  \
  } while (0)
#define READBUF_DEBUG_ONLY(...)
#else
#define READBUF_DCHECK(condition, ...) READBUF_CHECK(condition, __VA_ARGS__)
#define READBUF_DEBUG_ONLY(...) __VA_ARGS__
#endif

#endif  // READBUF_BUF_INTERNAL_CHECK_H_
