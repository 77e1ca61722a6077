#include "bench/report_json.h"

#include <cctype>
#include <string>

#include "gtest/gtest.h"
#include "tests/bench/sample_run.h"

namespace readbuf::bench {
namespace {

// A strict JSON syntax checker (RFC 8259 grammar, no extensions), enough to
// prove the writer's output parses.
class JsonChecker {
 public:
  explicit JsonChecker(const std::string& text) : s_(text) {}
  bool Valid() {
    Space();
    if (!Value()) return false;
    Space();
    return i_ == s_.size();
  }

 private:
  bool Value() {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{': return Object();
      case '[': return Array();
      case '"': return String();
      case 't': return Word("true");
      case 'f': return Word("false");
      case 'n': return Word("null");
      default: return Number();
    }
  }
  bool Object() {
    ++i_;
    Space();
    if (Eat('}')) return true;
    do {
      Space();
      if (!String()) return false;
      Space();
      if (!Eat(':')) return false;
      Space();
      if (!Value()) return false;
      Space();
    } while (Eat(','));
    return Eat('}');
  }
  bool Array() {
    ++i_;
    Space();
    if (Eat(']')) return true;
    do {
      Space();
      if (!Value()) return false;
      Space();
    } while (Eat(','));
    return Eat(']');
  }
  bool String() {
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        if (s_[i_] == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (++i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) {
              return false;
            }
          }
        } else if (std::string("\"\\/bfnrt").find(s_[i_]) == std::string::npos) {
          return false;
        }
      }
      ++i_;
    }
    return Eat('"');
  }
  bool Number() {
    const size_t start = i_;
    Eat('-');
    if (!Digits()) return false;
    if (s_[start + (s_[start] == '-')] == '0' && i_ - start > 1u + (s_[start] == '-')) {
      return false;  // leading zero
    }
    if (Eat('.') && !Digits()) return false;
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }
  bool Digits() {
    const size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    return i_ > start;
  }
  bool Word(const char* w) {
    const std::string word(w);
    if (s_.compare(i_, word.size(), word) != 0) return false;
    i_ += word.size();
    return true;
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void Space() {
    while (i_ < s_.size() && std::string(" \t\r\n").find(s_[i_]) != std::string::npos) ++i_;
  }

  const std::string& s_;
  size_t i_ = 0;
};

bool IsJson(const std::string& s) { return JsonChecker(s).Valid(); }

TEST(JsonCheckerTest, AcceptsJsonAndRejectsNonJson) {
  EXPECT_TRUE(IsJson(R"({"a": [1, -2.5e3, null, true, "x\n"], "b": {}})"));
  EXPECT_FALSE(IsJson(R"({"a": 1,})"));
  EXPECT_FALSE(IsJson(R"({"a": nan})"));
  EXPECT_FALSE(IsJson("{\"a\": \"raw\nnewline\"}"));
  EXPECT_FALSE(IsJson(R"({"a": 01})"));
}

TEST(ReportJsonTest, IsWellFormed) {
  const std::string json = ReportJson(SampleRun());
  EXPECT_TRUE(IsJson(json)) << json;
}

TEST(ReportJsonTest, EmptyRunIsWellFormed) {
  EXPECT_TRUE(IsJson(ReportJson(ReportRun())));
}

TEST(ReportJsonTest, UnmeasuredMetricsAreNullNotZero) {
  const std::string json = ReportJson(SampleRun());
  // asio-eager's syscalls/op was not measured.
  const size_t base = json.find(R"({"server": "asio-eager", "workload": "pingpong-64B")");
  ASSERT_NE(base, std::string::npos);
  const std::string row = json.substr(base, json.find("}}", base) - base);
  EXPECT_NE(row.find(R"("syscalls_per_op": null)"), std::string::npos) << row;
  EXPECT_NE(row.find(R"("ops_per_second": 10000)"), std::string::npos) << row;
  EXPECT_NE(row.find(R"("rss_bytes_per_connection": null)"), std::string::npos) << row;
  // Idle rows have no throughput.
  const size_t idle = json.find(R"({"server": "pooled-epoll", "workload": "idle")");
  ASSERT_NE(idle, std::string::npos);
  const std::string idle_row = json.substr(idle, json.find("}}", idle) - idle);
  EXPECT_NE(idle_row.find(R"("ops_per_second": null)"), std::string::npos) << idle_row;
  EXPECT_NE(idle_row.find(R"("rss_bytes_per_connection": 1500)"), std::string::npos);
  EXPECT_NE(idle_row.find(R"("buffer_bytes_per_connection": 0)"), std::string::npos);
  EXPECT_NE(idle_row.find(R"("kernel_slab_bytes_per_connection": 9000)"), std::string::npos);
}

TEST(ReportJsonTest, CarriesStatsFailuresAndSettings) {
  const std::string json = ReportJson(SampleRun());
  EXPECT_NE(json.find(R"("server_stats": {"pool_misses": 7, "seq": 2})"), std::string::npos);
  EXPECT_NE(json.find(R"("error": "UNAVAILABLE: \"exited\"\nbefore <port>")"),
            std::string::npos);
  EXPECT_NE(json.find(R"("baseline": "asio-eager")"), std::string::npos);
  EXPECT_NE(json.find(R"("idle_connections": 1000)"), std::string::npos);
  EXPECT_NE(json.find(R"("quick": false)"), std::string::npos);
}

TEST(ReportJsonTest, ListsSkippedPairsWithTheirReason) {
  ReportRun run = SampleRun();
  run.skipped = {{"asio-eager", "tls-pingpong-64B", "no TLS"}};
  const std::string json = ReportJson(run);
  EXPECT_TRUE(IsJson(json)) << json;
  EXPECT_NE(json.find(R"({"server": "asio-eager", "workload": "tls-pingpong-64B", )"
                      R"("reason": "no TLS"})"),
            std::string::npos)
      << json;
}

TEST(JsonStringTest, EscapesControlCharacters) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
}

}  // namespace
}  // namespace readbuf::bench
