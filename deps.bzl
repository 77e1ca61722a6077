"""Repositories readbuf needs, for a WORKSPACE to call.

    load("@com_github_readbuf_readbuf//:deps.bzl", "readbuf_deps", "readbuf_dev_deps")
    readbuf_deps()       # what anyone linking readbuf needs
    readbuf_dev_deps()   # only for readbuf's own tests and benchmarks

Every repository is declared only if the calling workspace has not declared
one of that name already, so a monorepo that brings its own Abseil, GoogleTest
or liburing keeps it. The names are the canonical ones (com_google_absl, ...).
Here they wrap Debian packages (see third_party/debian/debian_repository.bzl),
because this project builds offline.
"""

load("//third_party/debian:debian_repository.bzl", "debian_cc_repository")

_ABSL_PACKAGES = {
    "": "absl_root",
    "absl/algorithm": "absl_header_only",
    "absl/base": "absl_base",
    "absl/cleanup": "absl_header_only",
    "absl/container": "absl_container",
    "absl/debugging": "absl_debugging",
    "absl/flags": "absl_flags",
    "absl/functional": "absl_functional",
    "absl/hash": "absl_hash",
    "absl/memory": "absl_header_only",
    "absl/meta": "absl_header_only",
    "absl/numeric": "absl_header_only",
    "absl/random": "absl_random",
    "absl/status": "absl_status",
    "absl/strings": "absl_strings",
    "absl/synchronization": "absl_synchronization",
    "absl/time": "absl_time",
    "absl/types": "absl_types",
    "absl/utility": "absl_header_only",
}

def _overlay(name):
    return "//third_party/debian:%s.BUILD" % name

def _maybe(name, **kwargs):
    if not native.existing_rule(name):
        debian_cc_repository(name = name, **kwargs)

def readbuf_deps():
    """Runtime dependencies: Abseil, mimalloc and liburing."""
    _maybe(
        "com_google_absl",
        debian_package = "libabsl-dev",
        required_files = ["/usr/include/absl/status/statusor.h"],
        build_files = {pkg: _overlay(f) for pkg, f in _ABSL_PACKAGES.items()},
    )
    _maybe(
        "com_github_microsoft_mimalloc",
        debian_package = "libmimalloc-dev",
        required_files = ["/usr/include/mimalloc.h"],
        build_files = {"": _overlay("mimalloc")},
    )
    _maybe(
        "com_github_axboe_liburing",
        debian_package = "liburing-dev",
        required_files = ["/usr/include/liburing.h"],
        build_files = {"": _overlay("liburing")},
    )

def readbuf_dev_deps():
    """Test and benchmark dependencies, plus the peers the benchmarks compare against."""
    _maybe(
        "com_google_googletest",
        debian_package = "libgmock-dev",
        required_files = [
            "/usr/include/gtest/gtest.h",
            "/usr/include/gmock/gmock.h",
        ],
        build_files = {"": _overlay("googletest")},
    )
    _maybe(
        "com_github_google_benchmark",
        debian_package = "libbenchmark-dev",
        required_files = ["/usr/include/benchmark/benchmark.h"],
        build_files = {"": _overlay("benchmark")},
    )
    _maybe(
        "com_github_chriskohlhoff_asio",
        debian_package = "libasio-dev",
        required_files = ["/usr/include/asio.hpp"],
        build_files = {"": _overlay("asio")},
    )
    _maybe(
        "com_github_libuv_libuv",
        debian_package = "libuv1-dev",
        required_files = ["/usr/include/uv.h"],
        build_files = {"": _overlay("libuv")},
    )
