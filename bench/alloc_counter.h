// -----------------------------------------------------------------------------
// File: bench/alloc_counter.h
// -----------------------------------------------------------------------------
//
// Counts heap allocations made through the global operator new, so a
// benchmark can report allocations per operation. Link //bench:alloc_counter
// into a benchmark binary (it replaces the global operator new/delete with
// counting versions that forward to malloc/free) and read AllocationCount()
// before and after the measured loop.

#ifndef READBUF_BENCH_ALLOC_COUNTER_H_
#define READBUF_BENCH_ALLOC_COUNTER_H_

#include <cstdint>

namespace readbuf::bench {

// Allocations through operator new on any thread since the process started.
uint64_t AllocationCount();

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_ALLOC_COUNTER_H_
