// -----------------------------------------------------------------------------
// File: tests/fuzz/corpus_main.cc
// -----------------------------------------------------------------------------
//
// A main() for the `<target>_corpus_test`s: replays every file named on the
// command line (or found directly inside a directory named there) through the
// target's LLVMFuzzerTestOneInput, without libFuzzer. So the checked-in seed
// corpus runs under every build configuration, g++ included; a failing check
// in a target aborts, which fails the test. It fails too when it finds no
// input at all, so a broken corpus glob cannot pass silently.

#include <dirent.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Appends `path` if it is a file, or the regular files directly inside it.
void CollectInputs(const std::string& path, std::vector<std::string>& out) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "corpus_main: cannot stat %s\n", path.c_str());
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    out.push_back(path);
    return;
  }
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string child = path + "/" + name;
    if (::stat(child.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(child);
  }
  ::closedir(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) CollectInputs(argv[i], inputs);
  if (inputs.empty()) {
    std::fprintf(stderr, "corpus_main: no corpus inputs given\n");
    return 1;
  }
  size_t bytes = 0;
  for (const std::string& path : inputs) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "corpus_main: cannot read %s\n", path.c_str());
      return 1;
    }
    const std::vector<char> content((std::istreambuf_iterator<char>(file)),
                                    std::istreambuf_iterator<char>());
    std::fprintf(stderr, "corpus_main: %s (%zu bytes)\n", path.c_str(), content.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(content.data()), content.size());
    bytes += content.size();
  }
  std::printf("corpus_main: replayed %zu inputs, %zu bytes\n", inputs.size(), bytes);
  return 0;
}
