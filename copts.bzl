"""Compiler warning flags for readbuf's own targets (warnings only, no ABI flags).

C++20 is a consumer-side setting (`--cxxopt=-std=c++20`), never a per-target
copt, so the whole build shares one ABI. -Werror is added by `--config=ci`
for readbuf's own packages only, never here.
"""

_COMMON_FLAGS = [
    "-Wall",
    "-Wextra",
    "-Wcast-qual",
    "-Wnon-virtual-dtor",
    "-Wvla",
    "-Wno-unused-parameter",
]

READBUF_DEFAULT_COPTS = select({
    "//:clang_compiler": _COMMON_FLAGS + ["-Wthread-safety", "-Wunreachable-code"],
    # GCC; Bazel 4 reports it as "compiler" (bazelbuild/bazel#12707).
    "//conditions:default": _COMMON_FLAGS,
})

READBUF_TEST_COPTS = READBUF_DEFAULT_COPTS + ["-Wno-sign-compare"]
