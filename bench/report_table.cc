// See report_table.h.
#include "bench/report_table.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace readbuf::bench {

const char kReportColumnHelp[] =
    "Columns of the ping-pong and stream tables:\n"
    "  server        readbuf's examples/echo_server as <policy>-<backend>\n"
    "                (uring-uring: the io_uring provided-buffer ring), or a peer:\n"
    "                asio-eager (async_read_some into a per-connection buffer),\n"
    "                asio-deferred (async_wait, then read), libuv (uv_read_start)\n"
    "  ops/s         round trips per second (ping-pong) or 64 KiB chunks echoed\n"
    "                per second (stream), all connections together\n"
    "  MiB/s         bytes echoed back per second\n"
    "  vs base       ops/s divided by asio-eager's ops/s (> 1: faster)\n"
    "  p50/p99 us    round-trip latency percentiles, microseconds (ping-pong)\n"
    "  CPU us/op     server user+system CPU time per op (/proc/PID/stat)\n"
    "  CPU vs base   CPU us/op divided by asio-eager's (< 1: cheaper)\n"
    "  syscalls/op   server system calls per op (perf tracepoint\n"
    "                raw_syscalls:sys_enter; n/a without root or\n"
    "                perf_event_paranoid <= 1, or without tracefs, which\n"
    "                root mounts; a note under the tables says why, once)\n"
    "  allocs/op     server heap allocations per op: malloc-family calls\n"
    "                (incl. operator new) counted by LD_PRELOAD of\n"
    "                bench/harness/alloc_count_preload.so, plus readbuf\n"
    "                BufferPool misses (blocks taken from mimalloc directly)\n"
    "Columns of the idle table (N silent connections, each echoed once):\n"
    "  conns         connections held open (may be scaled down; see note)\n"
    "  RSS B/conn    server resident memory growth per connection\n"
    "  RSS vs base   divided by asio-eager's\n"
    "  buffer B/conn read-buffer bytes held per idle connection: pool bytes in\n"
    "                use minus the io_uring ring's registered buffers (a\n"
    "                per-core constant, given in the note), plus the buffers\n"
    "                of non-pool policies, from the server's --stats_file\n"
    "                line; n/a for peers (no such stats)\n"
    "  slab B/conn   the kernel's slab growth per connection (/proc/meminfo\n"
    "                Slab, machine-wide): both ends of each loopback\n"
    "                connection, server and load generator, so the kernel's\n"
    "                share of an idle connection beside the server's RSS\n"
    "  allocs/conn   heap allocations per connection, counted as allocs/op\n"
    "Columns of the HTTP tables (examples/http_server as <policy>-<backend>, and\n"
    "nginx: Debian's nginx-light, one process, `return 200` with the same body):\n"
    "  req/s         requests per second wrk measured (each response counts;\n"
    "                http-pipelined sends 16 requests per write)\n"
    "  vs nginx      req/s divided by nginx's (> 1: faster)\n"
    "  p50/p99 us    latency percentiles from wrk --latency (http-pipelined:\n"
    "                per batch of 16 requests)\n"
    "  CPU us/req    server user+system CPU time per request (/proc/PID/stat)\n"
    "  CPU vs nginx  CPU us/req divided by nginx's (< 1: cheaper)\n"
    "  http-idle     conns, RSS B/conn (RSS with the keep-alive connections\n"
    "                minus before, per connection; each sent one GET / first),\n"
    "                RSS vs nginx, buffer B/conn (readbuf: pool bytes in use\n"
    "                plus non-pool buffers, from http_server's --stats_file\n"
    "                line; n/a for nginx), slab B/conn (as in the idle table)\n"
    "  https-keepalive, tls-idle  the same over TLS: http_server --tls_cert and\n"
    "                nginx `listen ssl`, one certificate made for the run;\n"
    "                tls-idle's clients complete the handshake and send\n"
    "                nothing (100 warm-up connections are open before the\n"
    "                baseline, so the TLS library's one-time state is not\n"
    "                counted); the note names the protocol negotiated\n";

namespace {

std::string Ratio(double value, double base) {
  if (base <= 0 || value < 0) return "-";
  return absl::StrFormat("%.2fx", value / base);
}

std::string Opt(const std::optional<double>& v, const char* format_kind) {
  if (!v) return "n/a";
  if (format_kind[0] == '0') return absl::StrFormat("%.0f", *v);
  return absl::StrFormat("%.2f", *v);
}

std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

void ActiveTable(const ReportRun& run, const Workload& w, std::string& out) {
  const Measurement* base = FindResult(run, kBaselineServer, w.name);
  absl::StrAppend(&out, "| server | ops/s | MiB/s | vs base | p50 us | p99 us | CPU us/op | "
                        "CPU vs base | syscalls/op | allocs/op | note |\n"
                        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const std::string& server : run.servers) {
    const Measurement* m = FindResult(run, server, w.name);
    if (m == nullptr) continue;
    const bool pingpong = w.kind == Workload::Kind::kPingPong;
    absl::StrAppend(
        &out, "| ", server, " | ", absl::StrFormat("%.0f", m->ops_per_second), " | ",
        absl::StrFormat("%.1f", m->mib_per_second), " | ",
        base ? Ratio(m->ops_per_second, base->ops_per_second) : "-", " | ",
        pingpong ? absl::StrFormat("%.1f", m->p50_us) : "-", " | ",
        pingpong ? absl::StrFormat("%.1f", m->p99_us) : "-", " | ",
        absl::StrFormat("%.2f", m->server_cpu_us_per_op), " | ",
        base ? Ratio(m->server_cpu_us_per_op, base->server_cpu_us_per_op) : "-", " | ",
        Opt(m->syscalls_per_op, "2"), " | ", Opt(m->allocs_per_op, "2"), " | ", Cell(m->note),
        " |\n");
  }
}

void IdleTable(const ReportRun& run, const Workload& w, std::string& out) {
  const Measurement* base = FindResult(run, kBaselineServer, w.name);
  absl::StrAppend(&out, "| server | conns | RSS B/conn | RSS vs base | buffer B/conn | "
                        "slab B/conn | allocs/conn | note |\n"
                        "|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const std::string& server : run.servers) {
    const Measurement* m = FindResult(run, server, w.name);
    if (m == nullptr) continue;
    const double rss = m->rss_bytes_per_connection.value_or(-1);
    const double base_rss =
        base != nullptr ? base->rss_bytes_per_connection.value_or(-1) : -1;
    absl::StrAppend(&out, "| ", server, " | ", m->connections, " | ",
                    Opt(m->rss_bytes_per_connection, "0"), " | ", Ratio(rss, base_rss), " | ",
                    Opt(m->buffer_bytes_per_connection, "0"), " | ",
                    Opt(m->kernel_slab_bytes_per_connection, "0"), " | ",
                    Opt(m->allocs_per_op, "2"), " | ", Cell(m->note), " |\n");
  }
}

void HttpActiveTable(const ReportRun& run, const HttpWorkload& w, std::string& out) {
  const Measurement* base = FindResult(run, kHttpBaselineServer, w.name);
  absl::StrAppend(&out, "| server | req/s | vs nginx | p50 us | p99 us | CPU us/req | "
                        "CPU vs nginx | note |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const std::string& server : run.http_servers) {
    const Measurement* m = FindResult(run, server, w.name);
    if (m == nullptr) continue;
    absl::StrAppend(
        &out, "| ", server, " | ", absl::StrFormat("%.0f", m->ops_per_second), " | ",
        base ? Ratio(m->ops_per_second, base->ops_per_second) : "-", " | ",
        m->p50_us > 0 ? absl::StrFormat("%.1f", m->p50_us) : "n/a", " | ",
        m->p99_us > 0 ? absl::StrFormat("%.1f", m->p99_us) : "n/a", " | ",
        absl::StrFormat("%.2f", m->server_cpu_us_per_op), " | ",
        base ? Ratio(m->server_cpu_us_per_op, base->server_cpu_us_per_op) : "-", " | ",
        Cell(m->note), " |\n");
  }
}

void HttpIdleTable(const ReportRun& run, const HttpWorkload& w, std::string& out) {
  const Measurement* base = FindResult(run, kHttpBaselineServer, w.name);
  absl::StrAppend(&out, "| server | conns | RSS B/conn | RSS vs nginx | buffer B/conn | "
                        "slab B/conn | note |\n|---|---:|---:|---:|---:|---:|---|\n");
  for (const std::string& server : run.http_servers) {
    const Measurement* m = FindResult(run, server, w.name);
    if (m == nullptr) continue;
    const double rss = m->rss_bytes_per_connection.value_or(-1);
    const double base_rss =
        base != nullptr ? base->rss_bytes_per_connection.value_or(-1) : -1;
    absl::StrAppend(&out, "| ", server, " | ", m->connections, " | ",
                    Opt(m->rss_bytes_per_connection, "0"), " | ", Ratio(rss, base_rss), " | ",
                    Opt(m->buffer_bytes_per_connection, "0"), " | ",
                    Opt(m->kernel_slab_bytes_per_connection, "0"), " | ", Cell(m->note),
                    " |\n");
  }
}

}  // namespace

std::string ReportMarkdown(const ReportRun& run) {
  std::string out;
  for (const Workload& w : run.workloads) {
    if (w.kind == Workload::Kind::kIdle) {
      absl::StrAppend(&out, "\n### idle: ", run.idle_connections,
                      " silent connections (lower is better)\n\n");
      IdleTable(run, w, out);
    } else if (w.kind == Workload::Kind::kPingPong) {
      absl::StrAppend(&out, "\n### ", w.name, ": ", w.connections, " connections, ",
                      w.message_size, " B messages\n\n");
      ActiveTable(run, w, out);
    } else {
      absl::StrAppend(&out, "\n### ", w.name, ": ", w.connections, " connections, ",
                      w.message_size / 1024, " KiB chunks\n\n");
      ActiveTable(run, w, out);
    }
  }
  for (const HttpWorkload& w : run.http_workloads) {
    switch (w.kind) {
      case HttpWorkload::Kind::kKeepAlive:
        absl::StrAppend(&out, "\n### ", w.name, ": wrk -t1 -c", w.connections, " -d",
                        absl::StrFormat("%g", run.http_duration_seconds),
                        "s, GET / on keep-alive connections",
                        w.tls ? " over TLS (https)" : "", "\n\n");
        HttpActiveTable(run, w, out);
        break;
      case HttpWorkload::Kind::kPipelined:
        absl::StrAppend(&out, "\n### ", w.name, ": wrk -t1 -c", w.connections, " -d",
                        absl::StrFormat("%g", run.http_duration_seconds), "s, ", w.pipeline,
                        " GET / per write\n\n");
        HttpActiveTable(run, w, out);
        break;
      case HttpWorkload::Kind::kIdle:
        absl::StrAppend(&out, "\n### ", w.name, ": ", w.connections,
                        w.tls ? " TLS connections, each silent after its handshake"
                              : " keep-alive connections after one GET / each",
                        " (lower is better)\n\n");
        HttpIdleTable(run, w, out);
        break;
    }
  }
  if (!run.failures.empty()) {
    absl::StrAppend(&out, "\n### Failed runs\n\n| server | workload | error |\n|---|---|---|\n");
    for (const ReportFailure& f : run.failures) {
      absl::StrAppend(&out, "| ", f.server, " | ", f.workload, " | ", Cell(f.error), " |\n");
    }
  }
  if (!run.notes.empty()) {
    absl::StrAppend(&out, "\nNotes:\n");
    for (const std::string& n : run.notes) absl::StrAppend(&out, "- ", n, "\n");
  }
  return out;
}

}  // namespace readbuf::bench
