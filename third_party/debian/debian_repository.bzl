"""A repository rule that wraps a library installed from a Debian package.

The headers stay where the package put them (/usr/include, on the compiler's
default search path) and the libraries are linked with `-l` flags, so the
generated repository only holds BUILD files: one per package path, taken from
`build_files`. Each wrapper lists the files its package installs in
`required_files`; if one is missing the build stops with one sentence that
names the package to install.
"""

def _debian_cc_repository_impl(ctx):
    for path in ctx.attr.required_files:
        if not ctx.path(path).exists:
            fail("readbuf: %s is missing; install the Debian package '%s' (apt-get install %s), or run ./bazelw, which installs it." %
                 (path, ctx.attr.debian_package, ctx.attr.debian_package))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for package, build_file in ctx.attr.build_files.items():
        prefix = package + "/" if package else ""
        ctx.symlink(ctx.path(Label(build_file)), prefix + "BUILD.bazel")

debian_cc_repository = repository_rule(
    implementation = _debian_cc_repository_impl,
    local = True,
    attrs = {
        "build_files": attr.string_dict(
            doc = "Package path inside the repository ('' = root) -> label of its BUILD file.",
        ),
        "debian_package": attr.string(mandatory = True),
        "required_files": attr.string_list(),
    },
)
