#!/usr/bin/env bash
# tests/hostile/run_hostile.sh: the hostile-client suite. For each buffer
# policy and backend it starts examples/echo_server (--threads=2, stall
# watchdog every 5 ms) and attacks it with tests/hostile:hostile_client, one
# case at a time, while a well-behaved ping-pong client measures latency.
#
#   tests/hostile/run_hostile.sh                      # everything, 10 s per case
#   tests/hostile/run_hostile.sh --duration=3s --runs="pooled/epoll pooled/uring"
#   tests/hostile/run_hostile.sh --smoke              # CI: 2 s per case, pooled on both backends
#
# Options (all optional):
#   --duration=D      attack time per case (default 10s); D is N, Ns or Nms
#   --hold=D          after the attack, the attacker keeps its connections as
#                     they are, without traffic, while the server's CPU is
#                     measured for this long (default 2s; >= 1s)
#   --baseline=D      ping-pong alone, per server start (default 3s)
#   --runs="P/B ..."  policy/backend pairs (default: zeroed uninit vectored dyn
#                     pooled callback on epoll and on uring, and uring/uring;
#                     callback is echo_server --api=callback)
#   --cases="C ..."   hostile_client cases (default: half_close slowloris
#                     zero_window rst_storm idle flood)
#   --smoke           --duration=2s --hold=1s --baseline=1s --max_stall_ms=250
#                     --floor_us=50000, runs pooled/epoll pooled/uring
#                     callback/epoll, cases
#                     slowloris rst_storm flood half_close; explicit options
#                     given after --smoke still win. For CI: it catches
#                     wedged and spinning cores (stalls of seconds), dead
#                     servers and leaked connections, not latency ratios
#                     (those are the full run's job: under ASan on a busy
#                     2-core machine a sound server's p99 reached 7x its
#                     baseline, 2.9 ms). The 250 ms stall limit and the
#                     50 ms p99 floor leave room for the timer delays that
#                     bulk transfers on a loaded 2-core machine cause (up
#                     to ~120 ms seen).
#   --server_bin=PATH --client_bin=PATH
#                     use these binaries instead of building them with
#                     `./bazelw build --config=opt` (how hostile_smoke_test runs)
#   --max_stall_ms=N  (default 50)   --max_ratio=R (default 2.0)
#   --floor_us=N      (default 2000) --max_hold_cpu_pct=N (default 25)
#   --attacker_nice=N the attacker runs under `nice -n N` (default 10), so its
#                     own CPU use (rst_storm is a busy loop) does not crowd
#                     the server and the ping-pong client off a small machine:
#                     what is measured is the server's behaviour
#   --verbose         also print the attacker's and the ping-pong client's lines
# Environment: OUTPUT_BASE, if set, is passed to bazel as --output_base.
#
# Per server start: wait for "listening <port>" (10 s), then the baseline:
# ping-pong (4 connections, 64-byte echo) alone, whose p99 is base_p99_us.
# Per case, on that server:
#   1. SIGUSR1: a stats line, which restarts the watchdog's interval.
#   2. The attack (hostile_client CASE --duration=D) and the ping-pong
#      client (--duration=D) start together; p99_us is the ping-pong p99
#      under attack. cpu_attack_pct: server CPU time over this phase, in %
#      of one core (information only: ping-pong itself keeps the server
#      busy).
#   3. Hold: the attacker keeps its connections, idle (it holds them until
#      step 6 tells it to go). cpu_hold_pct is the server's CPU over H; a
#      core spinning on a connection that gives it nothing to do shows as
#      up to 100 (less when the machine is busy: the threshold is 25).
#   4. SIGUSR1 again: stall_max_ms is the largest stall_max_us of every stats
#      line after step 1 (so a stall that ends only when the attacker leaves
#      still counts), stall_own_ms the largest stall_own_max_us: the same
#      lateness less the time the OS kept the core's thread runnable but off
#      every CPU (schedstat run_delay; StallWatchdog::TakeReading), i.e. the
#      stall the server's own work caused. A stats line needs every core to
#      answer: none within 5 s means a core is wedged.
#   5. Answering: a ping-pong probe (8 connections, 300 ms) during the hold.
#   6. SIGTERM ends the attacker's hold: it closes everything and prints its
#      summary. Within 5 s the server must report connections=0
#      (leaked = connections still counted) and still run (kill -0).
# PASS requires all of:
#   p99_us <= max(max_ratio * base_p99_us, base_p99_us + floor_us)
#       (loopback p99s are tens of microseconds and jitter by more than 2x on
#       a shared 2-core machine, so a 2x rule alone would be noise; the
#       absolute floor keeps the rule about real harm);
#   the ping-pong client under attack had ops > 0, stuck=0 and errors=0;
#   stall_own_ms < max_stall_ms (the attacker, the ping-pong client and the
#       server's two cores share this machine's 2 CPUs, so the wall-clock
#       stall also holds time the OS gave to them; both are printed);
#   every stats line came within 5 s;
#   the server is alive and answered the probe; cpu_hold_pct < max_hold_cpu_pct;
#   leaked=0; and the attacker itself did not fail.
# A failed case stops the server; the next case starts a fresh one (and
# measures a new baseline), so one failure does not spill into other cases.
# Every server start, client run and wait has a timeout; the server is killed
# on exit, whatever happens.
# runq_wait_ms (information): over attack + hold, the total time the
# server thread that waited most spent runnable but without a CPU
# (/proc/PID/task/*/schedstat). A large value says the machine was busy, and
# part of stall_max_ms may be the OS's doing rather than the server's.
# One line per case:
#   hostile: policy=pooled backend=epoll case=flood base_p99_us=95 p99_us=140
#            ratio=1.47 stall_max_ms=1.2 stall_own_ms=1.1 runq_wait_ms=3.1 alive=yes
#            answering=yes cpu_attack_pct=93 cpu_hold_pct=0 leaked=0 PASS
# followed, for a FAIL, by the reasons. The last line is "N passed, M failed";
# the exit status is 0 only if every case passed.
set -euo pipefail

duration=10s
hold=2s
baseline=3s
runs="zeroed/epoll uninit/epoll vectored/epoll dyn/epoll pooled/epoll callback/epoll \
zeroed/uring uninit/uring vectored/uring dyn/uring pooled/uring callback/uring uring/uring"
cases="half_close slowloris zero_window rst_storm idle flood"
server_bin=
client_bin=
max_stall_ms=50
max_ratio=2.0
floor_us=2000
max_hold_cpu_pct=25
attacker_nice=10
verbose=0
for arg in "$@"; do
  case "$arg" in
    --smoke)
      duration=2s hold=1s baseline=1s max_stall_ms=250 floor_us=50000
      runs="pooled/epoll pooled/uring callback/epoll"
      cases="slowloris rst_storm flood half_close"
      ;;
    --duration=*) duration=${arg#*=} ;;
    --hold=*) hold=${arg#*=} ;;
    --baseline=*) baseline=${arg#*=} ;;
    --runs=*) runs=${arg#*=} ;;
    --cases=*) cases=${arg#*=} ;;
    --server_bin=*) server_bin=${arg#*=} ;;
    --client_bin=*) client_bin=${arg#*=} ;;
    --max_stall_ms=*) max_stall_ms=${arg#*=} ;;
    --max_ratio=*) max_ratio=${arg#*=} ;;
    --floor_us=*) floor_us=${arg#*=} ;;
    --max_hold_cpu_pct=*) max_hold_cpu_pct=${arg#*=} ;;
    --attacker_nice=*) attacker_nice=${arg#*=} ;;
    --verbose) verbose=1 ;;
    *) echo "run_hostile: unknown option $arg" >&2; exit 2 ;;
  esac
done

# to_ms D: D (N, Ns, Nms, N.Ns) in milliseconds.
to_ms() {
  local d=$1
  case "$d" in
    *ms) echo "${d%ms}" ;;
    *s) awk -v s="${d%s}" 'BEGIN { printf "%d", s * 1000 }' ;;
    *) awk -v s="$d" 'BEGIN { printf "%d", s * 1000 }' ;;
  esac
}
duration_ms=$(to_ms "$duration")
hold_ms=$(to_ms "$hold")
baseline_ms=$(to_ms "$baseline")
if ((duration_ms < 100 || hold_ms < 1000 || baseline_ms < 100)); then
  echo "run_hostile: need --duration >= 100ms, --hold >= 1s, --baseline >= 100ms" >&2
  exit 2
fi

if [[ -z "$server_bin" || -z "$client_bin" ]]; then
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  startup=()
  [[ -n "${OUTPUT_BASE:-}" ]] && startup=(--output_base="$OUTPUT_BASE")
  echo "=== hostile: building (--config=opt) ==="
  build_log=$(mktemp)
  if ! ./bazelw "${startup[@]}" build --config=opt //examples:echo_server \
       //tests/hostile:hostile_client >"$build_log" 2>&1; then
    cat "$build_log" >&2
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
  bin=$(./bazelw "${startup[@]}" info --config=opt bazel-bin 2>/dev/null)
  server_bin=${server_bin:-$bin/examples/echo_server}
  client_bin=${client_bin:-$bin/tests/hostile/hostile_client}
fi
for b in "$server_bin" "$client_bin"; do
  [[ -x "$b" ]] || { echo "run_hostile: not an executable: $b" >&2; exit 1; }
done

if [[ -n "${TEST_TMPDIR:-}" ]]; then
  work=$(mktemp -d "$TEST_TMPDIR/hostile.XXXXXX")
else
  work=$(mktemp -d)
fi
server_pid=
bg_pids=()
clk_tck=$(getconf CLK_TCK)

# stop_server: SIGTERM, then SIGKILL if it has not exited within 5 s (a
# wedged core also blocks the server's signal loop).
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kv KEY LINE: KEY's value in a line of key=value pairs (empty if absent).
kv() {
  awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"
}

# now_us VAR: sets VAR to the wall clock in microseconds (no fork, so the
# timed loops below keep their deadlines on a loaded machine).
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; }

# read_stats: sets $stats_line to the server's last stats line (or empty).
read_stats() {
  stats_line=
  [[ -s "$work/stats" ]] && { read -r stats_line <"$work/stats" || true; }
  return 0
}

# stat_of KEY: KEY's value in $stats_line (no fork), or empty.
stat_of() {
  local re="(^| )$1=([0-9]+)"
  stat_value=
  [[ $stats_line =~ $re ]] && stat_value=${BASH_REMATCH[2]}
  return 0
}

# request_stats: SIGUSR1, then wait up to 5 s for the line; folds its
# stall_max_us into $stall_us and stall_own_max_us into $stall_own_us. Fails if none came. Each line restarts the
# watchdog's interval, so no line may go unread: while a requested line is
# still missing (a wedged core holds the server's stats writer), no new
# signal is sent, and the next call waits for that line instead.
last_seq=0
stats_pending=0
request_stats() {
  if ((!stats_pending)); then
    kill -USR1 "$server_pid" 2>/dev/null || return 1
    stats_pending=1
  fi
  local now end
  now_us now
  end=$((now + 5000000))
  while ((now < end)); do
    read_stats
    stat_of seq
    if ((${stat_value:-0} > last_seq)); then
      last_seq=$stat_value
      stat_of stall_max_us
      ((${stat_value:-0} > stall_us)) && stall_us=$stat_value
      stat_of stall_own_max_us
      ((${stat_value:-0} > stall_own_us)) && stall_own_us=$stat_value
      stats_pending=0
      return 0
    fi
    sleep 0.01
    now_us now
  done
  return 1
}

# server_cpu_ticks: user + system CPU time of the server, in clock ticks.
server_cpu_ticks() {
  sed 's/^.*) //' "/proc/$server_pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}
# cpu_pct TICKS US: CPU time over wall time, in % of one core.
cpu_pct() { awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%d", (n > 0 ? t / hz / (n / 1e6) * 100 : 0) }'; }

# runq_snapshot FILE: "tid run-queue-wait-ns" for every server thread.
runq_snapshot() {
  local f w
  : >"$1"
  for f in "/proc/$server_pid"/task/*/schedstat; do
    [[ -r "$f" ]] || continue
    read -r _ w _ <"$f" 2>/dev/null || continue
    f=${f%/schedstat}
    echo "${f##*/} $w" >>"$1"
  done
  return 0
}

# runq_wait_ms BEFORE AFTER: the largest growth of one thread's wait, in ms.
runq_wait_ms() {
  awk 'NR == FNR { a[$1] = $2; next }
       { d = $2 - ($1 in a ? a[$1] : 0); if (d > m) m = d }
       END { printf "%.1f", m / 1e6 }' "$1" "$2"
}

# pingpong OUT_FILE ARGS...: the well-behaved client, with a timeout.
pingpong() {
  local out=$1
  shift
  timeout -k 2 $((duration_ms / 1000 + 20)) "$client_bin" pingpong --port="$port" "$@" \
    >"$out" 2>"$out.err"
}

# start_server POLICY BACKEND: starts it, sets $server_pid and $port, and
# measures $base_p99. Fails (with a message) if it does not come up.
start_server() {
  rm -f "$work/stats" "$work/port"
  last_seq=0
  stats_pending=0
  local policy_args=(--policy="$1")
  # "callback" is echo_server --api=callback (pool blocks, no task per connection).
  [[ $1 == callback ]] && policy_args=(--policy=pooled --api=callback)
  "$server_bin" --port=0 --threads=2 "${policy_args[@]}" --backend="$2" \
    --stats_file="$work/stats" --stall_watchdog_period=5ms \
    >"$work/port" 2>"$work/server.err" &
  server_pid=$!
  port=
  local now end line
  now_us now
  end=$((now + 10000000))
  while ((now < end)); do
    line=
    [[ -s "$work/port" ]] && { read -r line <"$work/port" || true; }
    if [[ $line =~ ^listening\ ([0-9]+)$ ]]; then
      port=${BASH_REMATCH[1]}
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.02
    now_us now
  done
  if [[ -z "$port" ]]; then
    start_error="the server did not start: $(head -n 3 "$work/server.err" | tr '\n' ' ')"
    stop_server
    return 1
  fi
  local rc=0
  pingpong "$work/base.out" --duration="${baseline_ms}ms" || rc=$?
  line=$(tail -n 1 "$work/base.out" 2>/dev/null || true)
  base_p99=$(kv p99_us "$line")
  if ((rc != 0)) || [[ -z "$base_p99" ]] || [[ "$(kv ops "$line")" == 0 ]] ||
     [[ "$(kv stuck "$line")" != 0 ]]; then
    start_error="baseline ping-pong failed (exit $rc): $line $(head -n 2 "$work/base.out.err" | tr '\n' ' ')"
    stop_server
    return 1
  fi
  ((verbose)) && echo "hostile:   baseline: $line"
  return 0
}

passed=0
failed=0
for run in $runs; do
  policy=${run%/*}
  backend=${run#*/}
  for c in $cases; do
    verdict=PASS
    why=()
    if [[ -z "$server_pid" ]]; then
      start_error=
      if ! start_server "$policy" "$backend"; then
        echo "hostile: policy=$policy backend=$backend case=$c FAIL"
        echo "hostile:   $start_error"
        failed=$((failed + 1))
        continue
      fi
    fi
    stall_us=0 stall_own_us=0
    request_stats || why+=("no stats line before the attack")
    stall_us=0 stall_own_us=0  # that line closed the previous interval

    # 2. Attack + ping-pong.
    cpu0=$(server_cpu_ticks)
    runq_snapshot "$work/runq.before"
    now_us t0
    # Held until step 6 sends SIGTERM (the hold given here is only a cap).
    timeout -k 2 $(((duration_ms + hold_ms) / 1000 + 90)) \
      nice -n "$attacker_nice" "$client_bin" "$c" --port="$port" \
      --duration="${duration_ms}ms" --hold="$((hold_ms + 60000))ms" \
      >"$work/attack.out" 2>"$work/attack.err" &
    attack_pid=$!
    bg_pids+=("$attack_pid")
    ping_rc=0
    pingpong "$work/ping.out" --duration="${duration_ms}ms" || ping_rc=$?
    # (If ping-pong gave up early, the attack still runs until D.)
    now_us now
    left_ms=$(((t0 + duration_ms * 1000 - now) / 1000))
    ((left_ms > 0)) && sleep "$(awk -v ms="$left_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    cpu1=$(server_cpu_ticks)
    now_us t1
    cpu_attack=$(cpu_pct $((cpu1 - cpu0)) $((t1 - t0)))
    ping_line=$(tail -n 1 "$work/ping.out" 2>/dev/null || true)
    p99=$(kv p99_us "$ping_line")
    p99=${p99:-0}

    # 3. Hold: only the attacker's idle connections remain.
    sleep "$(awk -v ms="$hold_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    cpu2=$(server_cpu_ticks)
    now_us t2
    runq_snapshot "$work/runq.after"
    runq_wait=$(runq_wait_ms "$work/runq.before" "$work/runq.after")
    cpu_hold=$(cpu_pct $((cpu2 - cpu1)) $((t2 - t1)))

    # 4. Stall, 5. answering.
    request_stats || why+=("no stats line within 5 s after the attack (a core is wedged?)")
    probe_rc=0
    pingpong "$work/probe.out" --connections=8 --duration=300ms --drain=1s || probe_rc=$?
    probe_line=$(tail -n 1 "$work/probe.out" 2>/dev/null || true)
    answering=yes
    if ((probe_rc != 0)) || [[ "$(kv opened "$probe_line")" != 8 ]] ||
       [[ "$(kv ops "$probe_line")" == 0 ]] || [[ "$(kv stuck "$probe_line")" != 0 ]] ||
       [[ "$(kv errors "$probe_line")" != 0 ]]; then
      answering=no
    fi

    # 6. The attacker leaves; the server must let go of every connection.
    kill -TERM "$attack_pid" 2>/dev/null || true
    attack_rc=0
    wait "$attack_pid" || attack_rc=$?
    bg_pids=()
    attack_line=$(tail -n 1 "$work/attack.out" 2>/dev/null || true)
    leaked=?
    now_us now
    end=$((now + 5000000))
    while ((now < end)); do
      request_stats || break
      stat_of connections
      leaked=${stat_value:-?}
      [[ $leaked == 0 ]] && break
      sleep 0.1
      now_us now
    done
    alive=no
    kill -0 "$server_pid" 2>/dev/null && alive=yes

    # Verdict.
    limit=$(awk -v b="$base_p99" -v r="$max_ratio" -v f="$floor_us" \
      'BEGIN { x = b * r; y = b + f; printf "%d", (x > y ? x : y) }')
    ratio=$(awk -v p="$p99" -v b="$base_p99" 'BEGIN { printf "%.2f", p / (b > 0 ? b : 1) }')
    stall_ms=$(awk -v us="$stall_us" 'BEGIN { printf "%.1f", us / 1000 }')
    stall_own_ms=$(awk -v us="$stall_own_us" 'BEGIN { printf "%.1f", us / 1000 }')
    if ((p99 > limit)); then
      why+=("p99 under attack ${p99} us > limit ${limit} us = max(${max_ratio} x ${base_p99}, ${base_p99} + ${floor_us})")
    fi
    if ((ping_rc != 0)) || [[ -z "$ping_line" ]] || [[ "$(kv ops "$ping_line")" == 0 ]] ||
       [[ "$(kv stuck "$ping_line")" != 0 ]] || [[ "$(kv errors "$ping_line")" != 0 ]]; then
      why+=("ping-pong under attack (exit $ping_rc): ${ping_line:-no output} $(head -n 2 "$work/ping.out.err" | tr '\n' ' ')")
    fi
    ((stats_pending)) && why+=("a requested stats line never came: stall_max_ms is a lower bound")
    if ((stall_own_us >= max_stall_ms * 1000)); then
      why+=("a core stalled ${stall_own_ms} ms >= ${max_stall_ms} ms (not counting time it waited for a CPU)")
    fi
    [[ $alive == yes ]] || why+=("the server died: $(tail -n 3 "$work/server.err" | tr '\n' ' ')")
    [[ $answering == yes ]] || why+=("the server did not answer the probe: ${probe_line:-no output}")
    if ((cpu_hold >= max_hold_cpu_pct)); then
      why+=("server CPU ${cpu_hold}% of a core while the attacker's connections sat idle: spinning")
    fi
    [[ "$leaked" == 0 ]] || why+=("server still counts ${leaked} connections 5 s after the attacker left")
    if ((attack_rc != 0)); then
      why+=("the attacker failed (exit $attack_rc): ${attack_line:-no output} $(head -n 2 "$work/attack.err" | tr '\n' ' ')")
    fi
    ((${#why[@]} == 0)) || verdict=FAIL

    echo "hostile: policy=$policy backend=$backend case=$c base_p99_us=$base_p99 p99_us=$p99" \
         "ratio=$ratio stall_max_ms=$stall_ms stall_own_ms=$stall_own_ms runq_wait_ms=$runq_wait alive=$alive answering=$answering" \
         "cpu_attack_pct=$cpu_attack cpu_hold_pct=$cpu_hold leaked=$leaked $verdict"
    if ((verbose)); then
      echo "hostile:   attack: $attack_line"
      echo "hostile:   pingpong: $ping_line"
    fi
    if [[ $verdict == PASS ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      printf 'hostile:   %s\n' "${why[@]}"
      stop_server  # a fresh server for the next case
    fi
  done
  stop_server
done
echo "$passed passed, $failed failed"
((failed == 0))
