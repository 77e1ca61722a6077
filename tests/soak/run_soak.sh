#!/usr/bin/env bash
# tests/soak/run_soak.sh: the soak test. For each buffer policy and backend it
# starts examples/echo_server (--config=opt), loads it with
# tests/soak:soak_client (15,000 connections, random traffic, every byte
# verified), and then checks that the server is back where it started.
#
#   tests/soak/run_soak.sh                                # every run, 15,000 conns, 60 s each
#   tests/soak/run_soak.sh --duration=20s --runs="pooled/epoll uring/uring"
#
# Options (all optional):
#   --connections=N      connections per run, all open at once (default 15000)
#   --duration=D         traffic time per run, a soak_client duration (default 60s)
#   --runs="P/B ..."     policy/backend pairs (default: zeroed uninit vectored
#                        dyn pooled on epoll and on uring, and uring/uring)
#   --server_threads=N   echo_server --threads (default 1)
#   --client_threads=N   soak_client --threads (default 1)
#   --rss_tolerance=PCT  allowed RSS growth after the run (default 10)
#   --warmup_connections=N  connections of the warm-up run (default: --connections)
# Environment: OUTPUT_BASE, if set, is passed to bazel as --output_base.
#
# What "back where it started" means, per run:
#   start      Right after the server is up, SIGUSR2 (trim, stats): rss_start,
#              the RSS of a server that has served nothing (printed only).
#   baseline   Then a warm-up run of the same traffic (--warmup_connections,
#              by default as many connections as the soak, for 5 s), and
#              SIGUSR2 again. The baseline is taken then: the server's
#              open-fd count (/proc/PID/fd) and its RSS (rss_before). The
#              warm-up puts the one-time and high-water costs (thread stacks,
#              the io_uring ring and its registered buffers, per-fd tables
#              sized for 15,000 fds, memory the C heap keeps after freeing
#              per-connection buffers and coroutine frames) into the
#              baseline, so the check measures what the soak itself left
#              behind: growth, i.e. a leak.
#   after      Once the client has exited (each of its connections saw the
#              server's EOF), the script waits until the server reports
#              connections=0, then SIGUSR2 again (trim, stats).
#   checks     fds_leaked = fds(after) - fds(baseline) must be 0;
#              the trim floor: pool_bytes_in_use must equal
#              ring_bytes_registered (the ring's own buffers; 0 on epoll),
#              pool_bytes_retained 0, ring_queued_pool_bytes 0 and
#              conn_owned_buffer_bytes 0;
#              RSS: rss(after) <= rss(baseline) * (1 + rss_tolerance/100).
#   and the client's own: every connection opened, errors=0.
# One line per run:
#   soak: policy=pooled backend=epoll connections=15000 bytes=... errors=0
#         fds_leaked=0 pool_in_use_after_trim=0 ring_registered=0
#         retained_after_trim=0 rss_start=... rss_before=... rss_after=... PASS
# The last line is "N passed, M failed"; the exit status is 0 only if all
# runs passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

connections=15000
duration=60s
runs="zeroed/epoll uninit/epoll vectored/epoll dyn/epoll pooled/epoll \
zeroed/uring uninit/uring vectored/uring dyn/uring pooled/uring uring/uring"
server_threads=1
client_threads=1
rss_tolerance=10
warmup_connections=
for arg in "$@"; do
  case "$arg" in
    --connections=*) connections=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --runs=*) runs=${arg#*=} ;;
    --server_threads=*) server_threads=${arg#*=} ;;
    --client_threads=*) client_threads=${arg#*=} ;;
    --rss_tolerance=*) rss_tolerance=${arg#*=} ;;
    --warmup_connections=*) warmup_connections=${arg#*=} ;;
    *) echo "run_soak: unknown option $arg" >&2; exit 2 ;;
  esac
done

warmup_connections=${warmup_connections:-$connections}
startup=()
[[ -n "${OUTPUT_BASE:-}" ]] && startup=(--output_base="$OUTPUT_BASE")
echo "=== soak: building (--config=opt) ==="
if ! ./bazelw "${startup[@]}" build --config=opt //examples:echo_server //tests/soak:soak_client \
     >/tmp/run_soak_build.$$ 2>&1; then
  cat /tmp/run_soak_build.$$ >&2
  rm -f /tmp/run_soak_build.$$
  exit 1
fi
rm -f /tmp/run_soak_build.$$
bin=$(./bazelw "${startup[@]}" info --config=opt bazel-bin 2>/dev/null)
server_bin=$bin/examples/echo_server
client_bin=$bin/tests/soak/soak_client

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# stats_value KEY: KEY's value in the last stats line.
stats_value() {
  tr ' ' '\n' <"$work/stats" | sed -n "s/^$1=//p"
}

# request_stats SIGNAL: signals the server and waits for a new stats line.
request_stats() {
  local before=0
  [[ -s "$work/stats" ]] && before=$(stats_value seq)
  kill "-$1" "$server_pid" || return 1
  for _ in $(seq 1 500); do
    if [[ -s "$work/stats" ]] && (($(stats_value seq) > before)); then return 0; fi
    sleep 0.02
  done
  echo "run_soak: no stats line after SIG$1" >&2
  return 1
}

count_fds() { ls "/proc/$server_pid/fd" | wc -l; }

passed=0
failed=0
for run in $runs; do
  policy=${run%/*}
  backend=${run#*/}
  rm -f "$work/stats" "$work/port"
  "$server_bin" --port=0 --threads="$server_threads" --policy="$policy" --backend="$backend" \
    --stats_file="$work/stats" >"$work/port" 2>"$work/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 1 500); do
    port=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/port" 2>/dev/null)
    [[ -n "$port" ]] && break
    sleep 0.02
  done
  if [[ -z "$port" ]]; then
    echo "soak: policy=$policy backend=$backend: the server did not start" >&2
    cat "$work/server.err" >&2
    failed=$((failed + 1))
    continue
  fi

  verdict=PASS
  why=()
  rss_start=0
  request_stats USR2 || { verdict=FAIL; why+=("no start stats"); }
  rss_start=$(stats_value rss_bytes)
  # Warm-up, then the baseline.
  if ! "$client_bin" --port="$port" --connections="$warmup_connections" --duration=5s \
       --threads="$client_threads" --seed=7 >"$work/warmup.out" 2>"$work/warmup.err"; then
    verdict=FAIL
    why+=("warm-up failed: $(cat "$work/warmup.out" "$work/warmup.err" | head -n 3 | tr '\n' ' ')")
  fi
  request_stats USR2 || { verdict=FAIL; why+=("no baseline stats"); }
  fds_before=$(count_fds)
  rss_before=$(stats_value rss_bytes)

  # The soak itself.
  "$client_bin" --port="$port" --connections="$connections" --duration="$duration" \
    --threads="$client_threads" --seed=1 >"$work/client.out" 2>"$work/client.err"
  client_rc=$?
  client_line=$(tail -n 1 "$work/client.out")
  bytes=$(tr ' ' '\n' <<<"$client_line" | sed -n 's/^bytes_verified=//p')
  errors=$(tr ' ' '\n' <<<"$client_line" | sed -n 's/^errors=//p')
  opened=$(tr ' ' '\n' <<<"$client_line" | sed -n 's/^opened=//p')
  if ((client_rc != 0)); then
    verdict=FAIL
    why+=("client: $client_line $(head -n 3 "$work/client.err" | tr '\n' ' ')")
  fi

  # Back to the baseline?
  for _ in $(seq 1 100); do
    request_stats USR1 || break
    (($(stats_value connections) == 0)) && break
    sleep 0.1
  done
  request_stats USR2 || { verdict=FAIL; why+=("no stats after the run"); }
  fds_after=$(count_fds)
  fds_leaked=$((fds_after - fds_before))
  in_use=$(stats_value pool_bytes_in_use)
  registered=$(stats_value ring_bytes_registered)
  retained=$(stats_value pool_bytes_retained)
  queued=$(stats_value ring_queued_pool_bytes)
  owned=$(stats_value conn_owned_buffer_bytes)
  live=$(stats_value connections)
  rss_after=$(stats_value rss_bytes)
  rss_limit=$((rss_before + rss_before * rss_tolerance / 100))
  ((live == 0)) || { verdict=FAIL; why+=("$live connections still open"); }
  ((fds_leaked == 0)) || { verdict=FAIL; why+=("fds: $fds_before before, $fds_after after"); }
  ((in_use == registered)) || { verdict=FAIL; why+=("pool in use $in_use != ring floor $registered"); }
  ((retained == 0)) || { verdict=FAIL; why+=("pool retained $retained after trim"); }
  ((queued == 0)) || { verdict=FAIL; why+=("ring queued $queued"); }
  ((owned == 0)) || { verdict=FAIL; why+=("connection buffers $owned"); }
  ((rss_after <= rss_limit)) || { verdict=FAIL; why+=("RSS $rss_after > $rss_limit"); }

  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=

  echo "soak: policy=$policy backend=$backend connections=$connections opened=${opened:-0}" \
       "bytes=${bytes:-0} errors=${errors:-?} fds_leaked=$fds_leaked" \
       "pool_in_use_after_trim=$in_use ring_registered=$registered" \
       "retained_after_trim=$retained rss_start=$rss_start rss_before=$rss_before rss_after=$rss_after $verdict"
  if [[ $verdict == PASS ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'soak:   %s\n' "${why[@]}"
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
