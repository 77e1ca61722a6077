#!/usr/bin/env bash
# Runs examples/driver_cat on both backends: output equals the input for
# sizes around its 8 x 64 KiB batch (empty, one byte, a batch exactly, a
# batch and a bit); a missing file exits 1, no argument exits 2.
set -euo pipefail
bin="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for size in 0 1 65535 524288 524289 1300000; do
  head -c "$size" /dev/urandom >"$dir/in"
  for backend in epoll io_uring; do
    READBUF_BACKEND=$backend "$bin" "$dir/in" >"$dir/out"
    cmp -s "$dir/in" "$dir/out" || { echo "FAIL: $backend, $size bytes: output differs"; exit 1; }
  done
done
set +e
"$bin" /nonexistent/file 2>/dev/null; rc=$?
[[ $rc == 1 ]] || { echo "FAIL: missing file exited $rc, want 1"; exit 1; }
"$bin" 2>/dev/null; rc=$?
[[ $rc == 2 ]] || { echo "FAIL: no argument exited $rc, want 2"; exit 1; }
echo "PASS"
