"""readbuf's allocator switch, for the sources and targets that must know it.

`--define=readbuf_allocator=system` (set by --config=asan/tsan) makes
BufferPool use malloc/free instead of mimalloc and bypasses the coroutine
frame freelists, so a sanitizer or valgrind sees every allocation. The
macros are `local_defines` of the few files that look at them, so switching
recompiles those files alone; everything else asks at run time
(BufferPool::UsesSystemAllocator()).
"""

# buf/buffer_pool.cc, and the tests and benchmarks that inspect its mimalloc
# heap when there is one.
POOL_BACKEND_LOCAL_DEFINES = select({
    "//:system_allocator": ["READBUF_POOL_SYSTEM_ALLOCATOR=1"],
    "//conditions:default": [],
})

# io's frame freelists and TrimMemory().
IO_ALLOCATOR_LOCAL_DEFINES = select({
    "//:system_allocator": ["READBUF_IO_SYSTEM_ALLOCATOR"],
    "//conditions:default": [],
})

# mimalloc's API, for the targets that call it directly; nothing is linked
# under the system allocator. mimalloc_headers stays in both, so dependents'
# compile commands (which name every external repository's include path)
# do not change with the switch.
MIMALLOC_DEPS_UNLESS_SYSTEM_ALLOCATOR = ["@com_github_microsoft_mimalloc//:mimalloc_headers"] + select({
    "//:system_allocator": [],
    "//conditions:default": ["@com_github_microsoft_mimalloc//:mimalloc_api"],
})
