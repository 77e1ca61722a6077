#include "bench/report_svg.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/bench/sample_run.h"

namespace readbuf::bench {
namespace {

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(ReportSvgTest, IsAStandaloneSvgDocument) {
  const std::string svg = ReportSvg(SampleRun());
  EXPECT_TRUE(absl::StartsWith(svg, "<?xml version=\"1.0\""));
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  EXPECT_EQ(Count(svg, "<text"), Count(svg, "</text>"));
  EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(ReportSvgTest, OnePanelPerWorkloadWithTitleAndAxis) {
  const std::string svg = ReportSvg(SampleRun());
  EXPECT_NE(svg.find("pingpong-64B: 50 connections, 64 B messages, round trips per second"),
            std::string::npos);
  EXPECT_NE(svg.find("idle: 1000 silent connections, server memory per connection"),
            std::string::npos);
  EXPECT_NE(svg.find(">round trips per second (all connections)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">RSS growth per connection, bytes</text>"), std::string::npos);
}

TEST(ReportSvgTest, OneBarPerMeasuredServerAndFailedRunsSaySo) {
  const std::string svg = ReportSvg(SampleRun());
  // 5 results -> 5 bars (each has a <title> tooltip), plus 3 legend swatches.
  EXPECT_EQ(Count(svg, "</title></rect>"), 5);
  EXPECT_EQ(Count(svg, ">failed</text>"), 1);  // uring-uring, pingpong-64B
  // Values and ratios against asio-eager at the bar ends.
  EXPECT_NE(svg.find(">20.0k (2.00x)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1500 (0.50x); buffers 0 B/conn</text>"), std::string::npos);
  EXPECT_NE(svg.find(">asio-eager (base)</text>"), std::string::npos);
}

TEST(ReportSvgTest, EscapesText) {
  const std::string svg = ReportSvg(SampleRun());
  EXPECT_NE(svg.find("Test CPU &lt;1&gt; &quot;fast&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<1>"), std::string::npos);
}

void ExpectAxis(double max_value, double end, double step, int ticks) {
  const ChartAxis a = NiceAxis(max_value);
  EXPECT_DOUBLE_EQ(a.end, end) << max_value;
  EXPECT_DOUBLE_EQ(a.step, step) << max_value;
  EXPECT_EQ(a.ticks, ticks) << max_value;
}

TEST(NiceAxisTest, RoundStepsAtMostFiveTicks) {
  ExpectAxis(0, 1, 0.25, 4);
  ExpectAxis(-3, 1, 0.25, 4);
  ExpectAxis(20000, 20000, 5000, 4);
  ExpectAxis(20159, 25000, 5000, 5);
  ExpectAxis(14079, 15000, 5000, 3);
  ExpectAxis(11706, 12500, 2500, 5);
  ExpectAxis(208.9, 250, 50, 5);
  ExpectAxis(8883, 10000, 2000, 5);
  ExpectAxis(1, 1, 0.2, 5);
  ExpectAxis(0.35, 0.4, 0.1, 4);
}

TEST(ReportSvgTest, AxisTicksAreQuartersOfTheNiceEnd) {
  // The largest ping-pong value is 20000 ops/s: ticks 0, 5000 ... 20.0k.
  const std::string svg = ReportSvg(SampleRun());
  for (const char* tick : {">0</text>", ">5000</text>", ">10.0k</text>", ">15.0k</text>",
                           ">20.0k</text>"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
  EXPECT_EQ(svg.find("scaled down"), std::string::npos);  // no run was scaled
}

}  // namespace
}  // namespace readbuf::bench
