"""readbuf_fuzz_test: one libFuzzer target and its always-on corpus replay.

readbuf_fuzz_test(name = "x_fuzz", srcs = ["x_fuzz.cc"], deps = [...]) makes

  :x_fuzz_lib          the target's LLVMFuzzerTestOneInput (testonly, alwayslink)
  :x_fuzz_corpus       the seed files in corpus/x_fuzz/
  :x_fuzz_corpus_test  cc_test: replays every seed through the target with a
                       plain main() (corpus_main.cc); builds and runs under every
                       configuration, g++ included
  :x_fuzz              cc_binary linked with -fsanitize=fuzzer; tagged "manual"
                       so `//...` never builds it. Build it with --config=fuzz
                       (clang 14); .ci/fuzz runs it.
"""

load("//:copts.bzl", "READBUF_TEST_COPTS")

def readbuf_fuzz_test(name, srcs, deps = [], size = "small"):
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = READBUF_TEST_COPTS,
        deps = deps,
        alwayslink = True,
    )
    native.filegroup(
        name = name + "_corpus",
        testonly = True,
        srcs = native.glob(["corpus/" + name + "/*"]),
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = size,
        args = ["$(locations :" + name + "_corpus)"],
        data = [":" + name + "_corpus"],
        deps = [
            ":" + name + "_lib",
            ":corpus_main",
        ],
    )
    native.cc_binary(
        name = name,
        testonly = True,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = [":" + name + "_lib"],
    )
