#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace zerotrace {

// "a,b,,c" -> {"a", "b", "c"}: the items of a separated list, empty ones skipped (`--probes`,
// ZEROTRACE_DISABLE_FEATURES).
inline std::vector<std::string> SplitList(std::string_view list, char separator = ',') {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(separator, pos);
    if (end == std::string_view::npos) end = list.size();
    if (end > pos) out.emplace_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace zerotrace
