"""readbuf_cc_proto_library: C++ code for .proto files, from protoc, offline.

Upstream's proto_library + cc_proto_library need rules_proto and a protobuf
source tree, which an offline Bazel 4.2.3 workspace does not have. This macro
runs protoc in a genrule and wraps the generated code in a cc_library. Its
name and attributes follow protobuf's own legacy macro
(@com_google_protobuf//:protobuf.bzl, cc_proto_library(name, srcs, deps,
protoc, default_runtime)), so moving to upstream's rules later changes the
load line and little else.

    load("@com_github_readbuf_readbuf//:protobuf.bzl", "readbuf_cc_proto_library")

    readbuf_cc_proto_library(
        name = "item_cc_proto",
        srcs = ["item.proto"],              # in this package
        deps = [":other_cc_proto"],         # other readbuf_cc_proto_library targets
    )

makes :item_cc_proto, a cc_library with item.pb.h / item.pb.cc; include it as
"<package>/item.pb.h". Imports resolve against the root of the repository the
package is in, the deps' .proto files, and protoc's own include directory
(the well-known types). `protoc` defaults to @com_google_protobuf//:protoc
(readbuf_protobuf_deps() wraps Debian's /usr/bin/protoc under that label; a
monorepo's own protobuf builds it from source), `default_runtime` to
@com_google_protobuf//:protobuf (use :protobuf_lite for
`option optimize_for = LITE_RUNTIME` files). The generated code is
compiled with protobuf's settings, not readbuf's warning flags.
"""

def readbuf_cc_proto_library(
        name,
        srcs,
        deps = [],
        protoc = "@com_google_protobuf//:protoc",
        default_runtime = "@com_google_protobuf//:protobuf",
        **kwargs):
    """A cc_library of the C++ code protoc generates for `srcs`.

    Args:
      name: the cc_library's name; `name + "_srcs"` is a filegroup of `srcs`.
      srcs: .proto files in this package.
      deps: other readbuf_cc_proto_library targets whose .proto files these import.
      protoc: the protocol compiler (an executable label).
      default_runtime: the protobuf runtime library the code links against.
      **kwargs: passed to the cc_library and the genrule (visibility, testonly, tags).
    """
    repo = native.repository_name()
    root = "." if repo == "@" else "external/" + repo[1:]
    stems = [src[:-len(".proto")] for src in srcs]
    outs = [stem + ".pb.h" for stem in stems] + [stem + ".pb.cc" for stem in stems]
    dep_srcs = [dep + "_srcs" for dep in deps]

    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + dep_srcs,
        **kwargs
    )
    native.genrule(
        name = name + "_genproto",
        srcs = srcs + dep_srcs,
        outs = outs,
        tools = [protoc],
        cmd = " ".join([
            "$(execpath %s)" % protoc,
            "--proto_path=%s" % root,
            "--cpp_out=$(GENDIR)/%s" % root,
        ] + ["$(execpath %s)" % src for src in srcs]),
        message = "protoc %s" % ", ".join(srcs),
        **kwargs
    )
    native.cc_library(
        name = name,
        srcs = [stem + ".pb.cc" for stem in stems],
        hdrs = [stem + ".pb.h" for stem in stems],
        deps = deps + [default_runtime],
        **kwargs
    )
