"""Repositories readbuf needs, for a WORKSPACE to call.

    load(
        "@com_github_readbuf_readbuf//:deps.bzl",
        "readbuf_asio_deps",
        "readbuf_deps",
        "readbuf_dev_deps",
        "readbuf_protobuf_deps",
    )
    readbuf_deps()           # what anyone linking readbuf needs
    readbuf_asio_deps()      # only for //adapters:asio_stream (the Asio bridge)
    readbuf_protobuf_deps()  # only for //adapters:protobuf_stream (the protobuf bridge)
    readbuf_dev_deps()       # only for readbuf's own tests and benchmarks

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
    """Runtime dependencies: Abseil, mimalloc, liburing and TLS (@boringssl)."""
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

    # TLS (io/tls_context.h, io/tls_stream.h), under BoringSSL's repository
    # name and labels (@boringssl//:ssl, @boringssl//:crypto). Here it wraps
    # Debian's OpenSSL 3; readbuf uses only the API subset BoringSSL also
    # provides, so a monorepo may declare `boringssl` first with its own copy.
    _maybe(
        "boringssl",
        debian_package = "libssl-dev",
        required_files = ["/usr/include/openssl/ssl.h"],
        build_files = {"": _overlay("boringssl")},
    )

def readbuf_asio_deps():
    """Asio, for the optional Asio bridge (//adapters:asio_stream).

    Call it in a workspace that depends on //adapters:asio_stream. Declares
    com_github_chriskohlhoff_asio (standalone Asio, from Debian's libasio-dev)
    only if the workspace has none.
    """
    _maybe(
        "com_github_chriskohlhoff_asio",
        debian_package = "libasio-dev",
        required_files = ["/usr/include/asio.hpp"],
        build_files = {"": _overlay("asio")},
    )

def readbuf_protobuf_deps():
    """Protocol Buffers, for the optional protobuf bridge (//adapters:protobuf_stream).

    Call it in a workspace that depends on //adapters:protobuf_stream or uses
    readbuf_cc_proto_library (//adapters:protobuf.bzl). Declares
    com_google_protobuf (Debian's libprotobuf-dev and protoc, with upstream's
    labels :protobuf, :protobuf_lite and :protoc) only if the workspace has
    none, so a monorepo's own protobuf is kept.
    """
    _maybe(
        "com_google_protobuf",
        debian_package = "libprotobuf-dev protobuf-compiler",
        required_files = [
            "/usr/include/google/protobuf/io/zero_copy_stream.h",
            "/usr/bin/protoc",
        ],
        build_files = {"": _overlay("protobuf")},
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
    readbuf_asio_deps()  # the Asio benchmarks' peer
    _maybe(
        "com_github_libuv_libuv",
        debian_package = "libuv1-dev",
        required_files = ["/usr/include/uv.h"],
        build_files = {"": _overlay("libuv")},
    )
