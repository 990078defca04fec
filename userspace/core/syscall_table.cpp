#include "core/syscall_table.h"

#include <string_view>
#include <unordered_map>

namespace zerotrace {
namespace {

struct Entry {
  uint32_t nr;
  std::string_view name;
};

constexpr Entry kTable[] = {
#include "syscall_table.inc"
};

const std::unordered_map<uint32_t, std::string_view>& Table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<uint32_t, std::string_view>();
    for (const auto& e : kTable) t->emplace(e.nr, e.name);
    return t;
  }();
  return *table;
}

}  // namespace

std::string SyscallName(uint32_t nr) {
  auto it = Table().find(nr);
  if (it == Table().end()) return "syscall_" + std::to_string(nr);
  return std::string(it->second);
}

}  // namespace zerotrace
