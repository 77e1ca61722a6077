#!/usr/bin/env bash
# Runs examples/checksum_file over every policy: all give the same byte count
# and checksum; bad flags exit 2 with a message.
set -euo pipefail
bin="$1"
input=$(mktemp)
trap 'rm -f "$input"' EXIT
head -c 300000 /dev/urandom >"$input"
expected=""
for policy in zeroed uninit vectored dyn pooled; do
  out=$("$bin" --policy="$policy" --buffer_size=4096 "$input")
  sum=${out#* }  # drop "policy=..."
  sum=${sum% zeroed_by_adapter=*}
  [[ "$sum" == bytes=300000\ * ]] || { echo "FAIL: $policy: $out"; exit 1; }
  if [[ -z "$expected" ]]; then expected=$sum; fi
  [[ "$sum" == "$expected" ]] || { echo "FAIL: $policy gave '$sum', expected '$expected'"; exit 1; }
done
# stdin works too
out=$("$bin" --policy=pooled <"$input")
[[ "$out" == *"$expected"* ]] || { echo "FAIL: stdin: $out"; exit 1; }
set +e
"$bin" --policy=bogus "$input" 2>/dev/null; rc=$?
[[ $rc == 2 ]] || { echo "FAIL: bad --policy exited $rc, want 2"; exit 1; }
"$bin" --buffer_size=0 "$input" 2>/dev/null; rc=$?
[[ $rc == 2 ]] || { echo "FAIL: bad --buffer_size exited $rc, want 2"; exit 1; }
"$bin" /nonexistent/file 2>/dev/null; rc=$?
[[ $rc == 1 ]] || { echo "FAIL: missing file exited $rc, want 1"; exit 1; }
echo "PASS"
