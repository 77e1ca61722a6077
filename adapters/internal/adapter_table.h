// -----------------------------------------------------------------------------
// File: adapters/internal/adapter_table.h
// -----------------------------------------------------------------------------
//
// The README's adapter table, produced from each adapter's own constants
// (kName, kHeader, kFrom, kTo, kCopies, kZeroes, kNote), so the documented
// copy and zeroing costs cannot drift from the code. //adapters:adapter_table
// prints it; //tests/adapters:adapter_table_test fails when README.md's copy
// differs.

#ifndef READBUF_ADAPTERS_INTERNAL_ADAPTER_TABLE_H_
#define READBUF_ADAPTERS_INTERNAL_ADAPTER_TABLE_H_

#include <string>
#include <string_view>
#include <vector>

namespace readbuf::adapters_internal {

struct AdapterRow {
  std::string_view name;
  std::string_view header;
  std::string_view from;
  std::string_view to;
  int copies;
  bool zeroes;
  std::string_view note;
};

// The row of adapter type A, from its static constants.
template <class A>
constexpr AdapterRow AdapterRowOf() {
  return AdapterRow{A::kName, A::kHeader, A::kFrom, A::kTo,
                    A::kCopies, A::kZeroes, A::kNote};
}

// One row per adapter in adapters/, in table order.
std::vector<AdapterRow> AllAdapterRows();

// The markdown table (header, separator, one line per row, each line ending
// in '\n').
std::string AdapterTableMarkdown();

}  // namespace readbuf::adapters_internal

#endif  // READBUF_ADAPTERS_INTERNAL_ADAPTER_TABLE_H_
