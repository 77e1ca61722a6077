// See report_svg.h.
#include "bench/report_svg.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace readbuf::bench {
namespace {

constexpr int kWidth = 980;
constexpr int kLabelWidth = 150;  // server names, right-aligned
constexpr int kBarsWidth = 560;   // the x axis
constexpr int kBarHeight = 16;
constexpr int kBarGap = 5;
constexpr int kPanelTop = 56;     // title + subtitle above the bars
constexpr int kPanelBottom = 48;  // axis ticks + axis label below them

constexpr char kEpollColor[] = "#3b6fb6";
constexpr char kUringColor[] = "#3a9b5c";
constexpr char kPeerColor[] = "#d9822b";

// The metric a panel plots.
struct PanelMetric {
  std::string title;
  std::string axis;  // axis label with unit
  bool higher_is_better = true;
  std::optional<double> (*value)(const Measurement&) = nullptr;
};

std::optional<double> OpsPerSecond(const Measurement& m) { return m.ops_per_second; }
std::optional<double> MibPerSecond(const Measurement& m) { return m.mib_per_second; }
std::optional<double> RssPerConnection(const Measurement& m) {
  return m.rss_bytes_per_connection;
}

PanelMetric MetricFor(const ReportRun& run, const Workload& w) {
  switch (w.kind) {
    case Workload::Kind::kPingPong:
      return {absl::StrCat(w.name, ": ", w.connections, " connections, ", w.message_size,
                           " B messages, round trips per second"),
              "round trips per second (all connections)", true, &OpsPerSecond};
    case Workload::Kind::kStream:
      return {absl::StrCat(w.name, ": ", w.connections, " connections, ",
                           w.message_size / 1024, " KiB chunks, echo throughput"),
              "MiB/s echoed", true, &MibPerSecond};
    case Workload::Kind::kIdle:
      break;
  }
  return {absl::StrCat("idle: ", run.idle_connections,
                       " silent connections, server memory per connection"),
          "RSS growth per connection, bytes", false, &RssPerConnection};
}

std::string Human(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e9) return absl::StrFormat("%.2fG", v / 1e9);
  if (a >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (a >= 1e4) return absl::StrFormat("%.1fk", v / 1e3);
  if (a >= 100 || v == std::round(v)) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.1f", v);
}

const char* ColorFor(const std::string& server) {
  if (absl::EndsWith(server, "-epoll")) return kEpollColor;
  if (absl::EndsWith(server, "-uring")) return kUringColor;
  return kPeerColor;
}

void Text(std::string& out, int x, int y, absl::string_view anchor, absl::string_view style,
          absl::string_view text) {
  absl::StrAppend(&out, "<text x=\"", x, "\" y=\"", y, "\" text-anchor=\"", anchor, "\"",
                  style.empty() ? "" : absl::StrCat(" ", style), ">", SvgEscape(text),
                  "</text>\n");
}

PanelMetric HttpMetricFor(const ReportRun& run, const HttpWorkload& w) {
  switch (w.kind) {
    case HttpWorkload::Kind::kKeepAlive:
      return {absl::StrCat(w.name, ": wrk -t1 -c", w.connections, ", GET /, requests per second"),
              "requests per second", true, &OpsPerSecond};
    case HttpWorkload::Kind::kPipelined:
      return {absl::StrCat(w.name, ": wrk -t1 -c", w.connections, ", ", w.pipeline,
                           " GET / per write, requests per second"),
              "requests per second", true, &OpsPerSecond};
    case HttpWorkload::Kind::kIdle:
      break;
  }
  return {absl::StrCat(w.name, ": ", w.connections,
                       w.tls ? " TLS connections after the handshake"
                             : " keep-alive connections",
                       ", server memory per connection"),
          "RSS growth per connection, bytes", false, &RssPerConnection};
}

// What a panel draws: one bar per server of `servers` for workload `name`,
// ratios against `baseline`.
struct PanelSpec {
  PanelMetric metric;
  std::string workload;
  const std::vector<std::string>* servers;
  const char* baseline;
  bool idle;
};

// Appends one panel at `top`; returns its height.
int Panel(const ReportRun& run, const PanelSpec& spec, int top, std::string& out) {
  const PanelMetric& metric = spec.metric;
  const std::vector<std::string>& servers = *spec.servers;
  const char* baseline = spec.baseline;
  const Measurement* base = FindResult(run, baseline, spec.workload);
  const double base_value = base ? metric.value(*base).value_or(-1) : -1;  // -1: none
  double max_value = 0;
  for (const std::string& s : servers) {
    if (const Measurement* m = FindResult(run, s, spec.workload)) {
      max_value = std::max(max_value, metric.value(*m).value_or(0));
    }
  }
  const ChartAxis axis = NiceAxis(max_value);
  const double scale_max = axis.end;
  const int rows = static_cast<int>(servers.size());
  const int bars_height = rows * (kBarHeight + kBarGap);
  const int height = kPanelTop + bars_height + kPanelBottom;
  const int x0 = kLabelWidth + 10;

  Text(out, 10, top + 22, "start", "font-size=\"15\" font-weight=\"bold\"", metric.title);
  Text(out, 10, top + 40, "start", "font-size=\"12\" fill=\"#555\"",
       absl::StrCat(metric.higher_is_better ? "longer bar is better" : "shorter bar is better",
                    "; value at bar end, ratio vs ", baseline, " in brackets"));
  const int bars_top = top + kPanelTop;
  // Gridlines and tick labels.
  for (int i = 0; i <= axis.ticks; ++i) {
    const int x = x0 + kBarsWidth * i / axis.ticks;
    absl::StrAppend(&out, "<line x1=\"", x, "\" y1=\"", bars_top - 4, "\" x2=\"", x, "\" y2=\"",
                    bars_top + bars_height, "\" stroke=\"#ddd\"/>\n");
    Text(out, x, bars_top + bars_height + 14, "middle", "font-size=\"11\" fill=\"#333\"",
         Human(axis.step * i));
  }
  absl::StrAppend(&out, "<line x1=\"", x0, "\" y1=\"", bars_top + bars_height, "\" x2=\"",
                  x0 + kBarsWidth, "\" y2=\"", bars_top + bars_height,
                  "\" stroke=\"#333\"/>\n");
  Text(out, x0 + kBarsWidth / 2, bars_top + bars_height + 32, "middle", "font-size=\"12\"",
       metric.axis);

  for (int i = 0; i < rows; ++i) {
    const std::string& server = servers[static_cast<size_t>(i)];
    const int y = bars_top + i * (kBarHeight + kBarGap);
    const bool is_base = server == baseline;
    Text(out, kLabelWidth, y + kBarHeight - 4, "end",
         is_base ? "font-size=\"12\" font-weight=\"bold\"" : "font-size=\"12\"",
         is_base ? absl::StrCat(server, " (base)") : server);
    const Measurement* m = FindResult(run, server, spec.workload);
    const std::optional<double> v = m ? metric.value(*m) : std::nullopt;
    if (!v) {
      Text(out, x0 + 4, y + kBarHeight - 4, "start", "font-size=\"11\" fill=\"#b00\"",
           m ? "n/a" : "failed");
      continue;
    }
    const int bar = static_cast<int>(std::lround(std::max(0.0, *v) / scale_max * kBarsWidth));
    absl::StrAppend(&out, "<rect x=\"", x0, "\" y=\"", y, "\" width=\"", std::max(bar, 1),
                    "\" height=\"", kBarHeight, "\" fill=\"", ColorFor(server), "\"><title>",
                    SvgEscape(server), ": ", absl::StrFormat("%.6g", *v), "</title></rect>\n");
    std::string label = Human(*v);
    if (base_value > 0) {
      absl::StrAppend(&label, absl::StrFormat(" (%.2fx)", *v / base_value));
    }
    if (spec.idle && m->buffer_bytes_per_connection) {
      absl::StrAppend(&label, "; buffers ", Human(*m->buffer_bytes_per_connection), " B/conn");
    }
    if (!m->note.empty() && absl::StrContains(m->note, "scaled")) absl::StrAppend(&label, " *");
    Text(out, x0 + bar + 5, y + kBarHeight - 4, "start", "font-size=\"11\"", label);
  }
  return height;
}

}  // namespace

std::string SvgEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

ChartAxis NiceAxis(double max_value) {
  if (!(max_value > 0) || !std::isfinite(max_value)) return {1, 0.25, 4};
  const double p = std::pow(10.0, std::floor(std::log10(max_value / 5)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0, 20.0}) {
    const double step = m * p;
    const int ticks = static_cast<int>(std::ceil(max_value / step * (1 - 1e-12)));
    if (ticks <= 5) return {step * std::max(ticks, 1), step, std::max(ticks, 1)};
  }
  return {max_value, max_value, 1};  // not reached: 20 * p >= max / 5 * 2
}

std::string ReportSvg(const ReportRun& run) {
  std::string body;
  int y = 70;  // below the heading and legend
  for (const Workload& w : run.workloads) {
    const PanelSpec spec{MetricFor(run, w), w.name, &run.servers, kBaselineServer,
                         w.kind == Workload::Kind::kIdle};
    y += Panel(run, spec, y, body) + 16;
  }
  for (const HttpWorkload& w : run.http_workloads) {
    const PanelSpec spec{HttpMetricFor(run, w), w.name, &run.http_servers, kHttpBaselineServer,
                         w.kind == HttpWorkload::Kind::kIdle};
    y += Panel(run, spec, y, body) + 16;
  }
  std::string out = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
      "version=\"1.1\" width=\"", kWidth, "\" height=\"", y + 30, "\" viewBox=\"0 0 ", kWidth,
      " ", y + 30, "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  Text(out, 10, 24, "start", "font-size=\"18\" font-weight=\"bold\"",
       absl::StrCat(run.http_workloads.empty() ? "readbuf echo servers vs peers on loopback"
                    : run.workloads.empty()      ? "readbuf HTTP servers vs nginx on loopback"
                                                 : "readbuf echo and HTTP servers vs peers on loopback",
                    run.quick ? " (--quick)" : ""));
  Text(out, 10, 42, "start", "font-size=\"11\" fill=\"#555\"",
       absl::StrCat(run.machine, "; ", run.generated, "; ", run.pinning));
  int x = 10;
  for (const auto& [color, label] :
       {std::pair{kEpollColor, "readbuf, epoll backend"},
        std::pair{kUringColor, "readbuf, io_uring backend"},
        std::pair{kPeerColor, run.http_workloads.empty() ? "peers (Asio, libuv)"
                                                          : "peers (Asio, libuv, nginx)"}}) {
    absl::StrAppend(&out, "<rect x=\"", x, "\" y=\"52\" width=\"12\" height=\"12\" fill=\"",
                    color, "\"/>\n");
    Text(out, x + 16, 62, "start", "font-size=\"12\"", label);
    x += 230;
  }
  absl::StrAppend(&out, body);
  bool scaled = false;
  for (const Measurement& m : run.results) scaled |= absl::StrContains(m.note, "scaled");
  Text(out, 10, y + 14, "start", "font-size=\"11\" fill=\"#555\"",
       absl::StrCat(scaled ? "* connections scaled down (open-file limit); see the notes. " : "",
                    "One run on a shared machine: compare bars within a panel, expect noise."));
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace readbuf::bench
