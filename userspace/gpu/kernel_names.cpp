#include "gpu/kernel_names.h"

#include <cxxabi.h>

#include <cstdlib>

namespace zerotrace::gpu {

std::string DemangleKernelName(const std::string& mangled) {
  if (mangled.empty()) return "unknown";
  if (mangled.size() < 2 || mangled[0] != '_' || mangled[1] != 'Z') return mangled;
  int status = 0;
  char* out = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return mangled;
  }
  std::string result(out);
  std::free(out);
  return result;
}

namespace {

// Drops a trailing `(...)` (and cv/ref qualifiers after it) matched at bracket depth 0.
std::string DropParameterList(const std::string& name) {
  size_t end = name.size();
  // Trailing qualifiers such as " const" or " &&" after the parameter list.
  const size_t close = name.rfind(')');
  if (close == std::string::npos) return name;
  for (size_t i = close + 1; i < end; i++) {
    const char c = name[i];
    if (!(c == ' ' || c == '&' || (c >= 'a' && c <= 'z'))) return name;
  }
  int depth = 0;
  for (size_t i = close + 1; i-- > 0;) {
    const char c = name[i];
    if (c == ')') {
      ++depth;
    } else if (c == '(') {
      if (--depth == 0) {
        if (i == 0) return name;
        std::string head = name.substr(0, i);
        while (!head.empty() && head.back() == ' ') head.pop_back();
        return head.empty() ? name : head;
      }
    }
  }
  return name;
}

// Replaces the contents of every outermost `<...>` with "...".
std::string CollapseTemplates(const std::string& name) {
  std::string out;
  int depth = 0;
  for (char c : name) {
    if (c == '<') {
      if (depth++ == 0) out += "<...";
      continue;
    }
    if (c == '>' && depth > 0) {
      if (--depth == 0) out += '>';
      continue;
    }
    if (depth == 0) out += c;
  }
  return out;
}

// A leading return type (`void foo<...>`) appears only for template functions; drop it.
std::string DropReturnType(const std::string& name) {
  int depth = 0;
  for (size_t i = 0; i < name.size(); i++) {
    const char c = name[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (c == ' ' && depth == 0) {
      // "unsigned int", "(anonymous namespace)" are inside brackets or multi-word types; only a
      // space before the name's first '<' or ':' at depth 0 separates a return type.
      const std::string rest = name.substr(i + 1);
      if (!rest.empty() && rest.find_first_of("<:") != std::string::npos) return rest;
      return name;
    }
  }
  return name;
}

}  // namespace

std::string ShortenKernelName(const std::string& demangled, size_t max_len) {
  std::string name = DropParameterList(demangled);
  if (name.find('<') != std::string::npos) name = DropReturnType(name);
  if (name.size() > max_len) name = CollapseTemplates(name);
  if (max_len >= 4 && name.size() > max_len) name = name.substr(0, max_len - 3) + "...";
  return name.empty() ? "unknown" : name;
}

std::shared_ptr<const KernelNameCache::Names> KernelNameCache::Get(const std::string& mangled) {
  if (auto it = cache_.find(mangled); it != cache_.end()) return it->second;
  if (cache_.size() >= max_entries_) cache_.clear();
  auto n = std::make_shared<Names>();
  n->full = DemangleKernelName(mangled);
  n->short_ = ShortenKernelName(n->full, max_len_);
  return cache_.emplace(mangled, std::move(n)).first->second;
}

const std::string& LabelBound::Bound(const std::string& service, const std::string& value) {
  auto& values = seen_[service];
  if (auto it = values.find(value); it != values.end()) return *it;
  if (values.size() >= max_values_) return other_;
  return *values.insert(value).first;
}

}  // namespace zerotrace::gpu
