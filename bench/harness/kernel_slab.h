// -----------------------------------------------------------------------------
// File: bench/harness/kernel_slab.h
// -----------------------------------------------------------------------------
//
// The kernel's slab memory, machine-wide (/proc/meminfo "Slab:", reclaimable
// and unreclaimable together). The idle workloads read it before and after
// opening their connections: the delta per connection is what the kernel
// holds for one loopback connection, both ends (the server's socket and the
// load generator's), beside the server's own RSS. Machine-wide means other
// processes' allocations meanwhile count too: a figure, not an exact charge.
//
// Thread safety: stateless; safe from any thread.

#ifndef READBUF_BENCH_HARNESS_KERNEL_SLAB_H_
#define READBUF_BENCH_HARNESS_KERNEL_SLAB_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace readbuf::bench {

// Bytes of kernel slab now. Unavailable if /proc/meminfo has no Slab line.
absl::StatusOr<uint64_t> KernelSlabBytes();

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_KERNEL_SLAB_H_
