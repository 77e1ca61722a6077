// Tests for adapters/internal/adapter_table.h: README.md's adapter table is
// exactly the one generated from the adapters' constants. To update it, run
//   ./bazelw run //adapters:adapter_table
// and paste the output between the README markers.
#include "adapters/internal/adapter_table.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace readbuf::adapters_internal {
namespace {

constexpr char kBegin[] = "<!-- adapter-table:begin -->\n";
constexpr char kEnd[] = "<!-- adapter-table:end -->";

std::string ReadReadme() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  EXPECT_NE(srcdir, nullptr);
  EXPECT_NE(workspace, nullptr);
  if (srcdir == nullptr || workspace == nullptr) return "";
  std::ifstream in(std::string(srcdir) + "/" + workspace + "/README.md");
  EXPECT_TRUE(in.good()) << "README.md is not in the test's runfiles";
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TEST(AdapterTableTest, ReadmeTableMatchesTheGeneratedOne) {
  const std::string readme = ReadReadme();
  const size_t begin = readme.find(kBegin);
  const size_t end = readme.find(kEnd);
  ASSERT_NE(begin, std::string::npos) << "README.md lacks " << kBegin;
  ASSERT_NE(end, std::string::npos) << "README.md lacks " << kEnd;
  ASSERT_LT(begin, end);
  const std::string in_readme =
      readme.substr(begin + sizeof(kBegin) - 1, end - begin - (sizeof(kBegin) - 1));
  EXPECT_EQ(in_readme, AdapterTableMarkdown())
      << "README.md's adapter table is stale: run "
         "`./bazelw run //adapters:adapter_table` and paste its output "
         "between the markers";
}

TEST(AdapterTableTest, EveryRowStatesItsCosts) {
  for (const AdapterRow& row : AllAdapterRows()) {
    EXPECT_FALSE(row.name.empty());
    EXPECT_GE(row.copies, 0) << row.name;
    EXPECT_LE(row.copies, 1) << row.name;  // no adapter copies twice
    EXPECT_FALSE(row.note.empty()) << row.name;
  }
}

}  // namespace
}  // namespace readbuf::adapters_internal
