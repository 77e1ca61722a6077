// See report_json.h.
#include "bench/report_json.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace readbuf::bench {
namespace {

std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

std::string Number(const std::optional<double>& v) { return v ? Number(*v) : "null"; }

std::string StringArray(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& s : items) quoted.push_back(JsonString(s));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

std::string ResultJson(const Measurement& m) {
  std::vector<std::string> stats;
  for (const auto& [key, value] : m.server_stats) {
    stats.push_back(absl::StrCat(JsonString(key), ": ", value));
  }
  const bool idle = m.rss_bytes_per_connection.has_value();
  return absl::StrCat(
      "    {\"server\": ", JsonString(m.server), ", \"workload\": ", JsonString(m.workload),
      ", \"connections\": ", m.connections,
      ",\n     \"ops_per_second\": ", idle ? "null" : Number(m.ops_per_second),
      ", \"mib_per_second\": ", idle ? "null" : Number(m.mib_per_second),
      ", \"p50_us\": ", idle || m.p50_us == 0 ? "null" : Number(m.p50_us),
      ", \"p99_us\": ", idle || m.p99_us == 0 ? "null" : Number(m.p99_us),
      ",\n     \"server_cpu_us_per_op\": ", idle ? "null" : Number(m.server_cpu_us_per_op),
      ", \"syscalls_per_op\": ", Number(m.syscalls_per_op),
      ", \"allocs_per_op\": ", Number(m.allocs_per_op),
      ",\n     \"rss_bytes_per_connection\": ", Number(m.rss_bytes_per_connection),
      ", \"buffer_bytes_per_connection\": ", Number(m.buffer_bytes_per_connection),
      ", \"kernel_slab_bytes_per_connection\": ", Number(m.kernel_slab_bytes_per_connection),
      ", \"note\": ", JsonString(m.note), ",\n     \"server_stats\": {",
      absl::StrJoin(stats, ", "), "}}");
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string ReportJson(const ReportRun& run) {
  std::vector<std::string> workloads;
  for (const Workload& w : run.workloads) workloads.push_back(w.name);
  std::vector<std::string> http_workloads;
  for (const HttpWorkload& w : run.http_workloads) http_workloads.push_back(w.name);
  std::vector<std::string> results;
  for (const Measurement& m : run.results) results.push_back(ResultJson(m));
  auto pairs = [](const std::vector<ReportFailure>& list, const char* why) {
    std::vector<std::string> out;
    for (const ReportFailure& f : list) {
      out.push_back(absl::StrCat("    {\"server\": ", JsonString(f.server),
                                 ", \"workload\": ", JsonString(f.workload), ", \"", why,
                                 "\": ", JsonString(f.error), "}"));
    }
    return out;
  };
  const std::vector<std::string> failures = pairs(run.failures, "error");
  const std::vector<std::string> skipped = pairs(run.skipped, "reason");
  return absl::StrCat(
      "{\n  \"schema\": \"readbuf-report/1\",\n  \"generated\": ", JsonString(run.generated),
      ",\n  \"machine\": ", JsonString(run.machine),
      ",\n  \"quick\": ", run.quick ? "true" : "false",
      ",\n  \"duration_seconds\": ", Number(run.duration_seconds),
      ",\n  \"idle_connections\": ", run.idle_connections,
      ",\n  \"pinning\": ", JsonString(run.pinning),
      ",\n  \"baseline\": ", JsonString(kBaselineServer),
      ",\n  \"workloads\": ", StringArray(workloads),
      ",\n  \"servers\": ", StringArray(run.servers),
      ",\n  \"http_baseline\": ", JsonString(kHttpBaselineServer),
      ",\n  \"http_duration_seconds\": ", Number(run.http_duration_seconds),
      ",\n  \"http_workloads\": ", StringArray(http_workloads),
      ",\n  \"http_servers\": ", StringArray(run.http_servers),
      ",\n  \"notes\": ", StringArray(run.notes),
      ",\n  \"results\": [\n", absl::StrJoin(results, ",\n"),
      "\n  ],\n  \"failures\": [\n", absl::StrJoin(failures, ",\n"),
      "\n  ],\n  \"skipped\": [\n", absl::StrJoin(skipped, ",\n"), "\n  ]\n}\n");
}

}  // namespace readbuf::bench
