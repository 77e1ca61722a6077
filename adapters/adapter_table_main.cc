// Prints the README's adapter table (markdown) from the adapters' constants.
//   ./bazelw run //adapters:adapter_table
#include <cstdio>
#include <string>

#include "adapters/internal/adapter_table.h"

int main() {
  const std::string table = readbuf::adapters_internal::AdapterTableMarkdown();
  std::fwrite(table.data(), 1, table.size(), stdout);
  return 0;
}
