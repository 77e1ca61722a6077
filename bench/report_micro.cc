// See report_micro.h.
#include "bench/report_micro.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace readbuf::bench {
namespace {

// The benchmark binaries, relative to the runfiles root.
constexpr const char* kBenchmarks[] = {
    "bench/read_buf_benchmark",
    "bench/buffer_pool_benchmark",
};

struct Result {
  std::string name;
  double real_time_ns = 0;
  std::optional<double> bytes_per_second;
  std::vector<std::pair<std::string, double>> counters;
};

// Runs `argv`, returns its stdout; nullopt if it could not run or failed.
std::optional<std::string> Capture(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return std::nullopt;
  pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "report: cannot run %s\n", args[0]);
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string out;
  char chunk[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], chunk, sizeof(chunk))) > 0) out.append(chunk, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// Google Benchmark's JSON has one `"key": value` per line inside each entry
// of "benchmarks"; that is all this reader relies on.
std::vector<Result> ParseResults(absl::string_view json) {
  std::vector<Result> results;
  bool in_benchmarks = false;
  static const std::vector<std::string> kSkip = {
      "family_index", "per_family_instance_index", "run_name", "run_type",
      "repetitions", "repetition_index", "threads", "iterations", "cpu_time",
      "time_unit", "aggregate_name", "aggregate_unit"};
  for (absl::string_view line : absl::StrSplit(json, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "\"benchmarks\"")) in_benchmarks = true;
    if (!in_benchmarks) continue;
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(": ", 1));
    if (kv.size() != 2) continue;
    absl::string_view key = absl::StripPrefix(absl::StripSuffix(kv[0], "\""), "\"");
    absl::string_view value = absl::StripSuffix(kv[1], ",");
    if (key == "name") {
      results.push_back({});
      results.back().name =
          std::string(absl::StripPrefix(absl::StripSuffix(value, "\""), "\""));
      continue;
    }
    if (results.empty()) continue;
    double number;
    if (!absl::SimpleAtod(value, &number)) continue;
    Result& r = results.back();
    if (key == "real_time") {
      r.real_time_ns = number;
    } else if (key == "bytes_per_second") {
      r.bytes_per_second = number;
    } else if (std::find(kSkip.begin(), kSkip.end(), key) == kSkip.end()) {
      r.counters.emplace_back(std::string(key), number);
    }
  }
  return results;
}

std::string Human(double v) {
  if (v >= 1e9) return absl::StrFormat("%.2fG", v / 1e9);
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.2fk", v / 1e3);
  return absl::StrFormat("%.3g", v);
}

void PrintTable(const std::string& binary, const std::vector<Result>& results) {
  std::printf("\n### %s\n\n| case | time/op | throughput | counters |\n|---|---:|---:|---|\n",
              binary.c_str());
  for (const Result& r : results) {
    std::string counters;
    for (const auto& [k, v] : r.counters) {
      absl::StrAppend(&counters, counters.empty() ? "" : ", ", k, "=", Human(v));
    }
    std::printf("| %s | %.0f ns | %s | %s |\n", r.name.c_str(), r.real_time_ns,
                r.bytes_per_second ? absl::StrCat(Human(*r.bytes_per_second), "B/s").c_str()
                                   : "",
                counters.c_str());
  }
}

// "a is X times b" rows for the project's stated goals, when both ran.
struct Ratio {
  const char* label;
  const char* numerator;    // faster-is-better: time of b / time of a
  const char* denominator;
  const char* goal;
};

constexpr Ratio kRatios[] = {
    {"Uninit vs Zeroed, 100 KiB, fresh buffer per read",
     "BM_Read/Uninit/Fresh/102400/real_time", "BM_Read/Zeroed/Fresh/102400/real_time",
     ">= 1.4x"},
    {"Uninit vs Zeroed, 100 KiB, reused buffer", "BM_Read/Uninit/Reused/102400/real_time",
     "BM_Read/Zeroed/Reused/102400/real_time", "(info)"},
    {"Dyn vs Uninit, 4 KiB, reused", "BM_Read/Dyn/Reused/4096/real_time",
     "BM_Read/Uninit/Reused/4096/real_time", "within 3% (>= 0.97x)"},
    {"Dyn vs Uninit, 64 KiB, reused", "BM_Read/Dyn/Reused/65536/real_time",
     "BM_Read/Uninit/Reused/65536/real_time", "within 3% (>= 0.97x)"},
    {"Pooled (warm) vs Uninit, 64 KiB, reused", "BM_Read/Pooled/Reused/65536/real_time",
     "BM_Read/Uninit/Reused/65536/real_time", "(info)"},
};

}  // namespace

int RunMicroBenchmarks(const MicroOptions& options) {
  const double min_time = options.min_time;
  std::map<std::string, Result> by_name;
  int failures = 0;
  for (const char* binary : kBenchmarks) {
    std::fflush(stdout);
    std::fprintf(stderr, "report: micro: running %s ...\n", binary);
    std::vector<std::string> args = {absl::StrCat(options.runfiles_root, "/", binary),
                                     "--benchmark_format=json",
                                     absl::StrCat("--benchmark_min_time=", min_time)};
    if (!options.filter.empty()) {
      args.push_back(absl::StrCat("--benchmark_filter=", options.filter));
    }
    std::optional<std::string> json = Capture(args);
    if (!json) {
      std::fprintf(stderr, "report: micro: %s failed\n", binary);
      ++failures;
      continue;
    }
    if (!options.json_dir.empty()) {
      std::string base = binary;
      base = base.substr(base.rfind('/') + 1);
      std::string path = absl::StrCat(options.json_dir, "/", base, ".json");
      if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fwrite(json->data(), 1, json->size(), f);
        std::fclose(f);
      } else {
        std::fprintf(stderr, "report: micro: cannot write %s\n", path.c_str());
        ++failures;
      }
    }
    std::vector<Result> results = ParseResults(*json);
    if (results.empty()) {
      std::fprintf(stderr, "report: micro: %s produced no results\n", binary);
      ++failures;
      continue;
    }
    PrintTable(binary, results);
    for (Result& r : results) by_name[r.name] = r;
  }
  std::printf("\n### Goals (ratios from this run; > 1 means the first is faster)\n\n"
              "| comparison | ratio | goal |\n|---|---:|---|\n");
  for (const Ratio& ratio : kRatios) {
    auto a = by_name.find(ratio.numerator);
    auto b = by_name.find(ratio.denominator);
    if (a == by_name.end() || b == by_name.end() || a->second.real_time_ns <= 0) continue;
    std::printf("| %s | %.2fx | %s |\n", ratio.label,
                b->second.real_time_ns / a->second.real_time_ns, ratio.goal);
  }
  return failures;
}

}  // namespace readbuf::bench
