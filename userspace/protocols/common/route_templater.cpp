#include "protocols/common/route_templater.h"

#include <algorithm>

namespace zerotrace::protocols {
namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!IsHex(s[i])) {
      return false;
    }
  }
  return true;
}

bool IsIdSegment(std::string_view s) {
  if (s.empty()) return false;
  bool all_digits = true;
  bool all_hex = true;
  bool any_digit = false;
  for (char c : s) {
    const bool digit = c >= '0' && c <= '9';
    any_digit |= digit;
    all_digits &= digit;
    all_hex &= IsHex(c);
  }
  if (all_digits) return true;
  if (all_hex && any_digit && s.size() >= 8) return true;
  return IsUuid(s);
}

}  // namespace

std::string_view StripQuery(std::string_view path) {
  // A plain loop: find_first_of with a set calls memchr once per input byte.
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '?' || path[i] == '#') return path.substr(0, i);
  }
  return path;
}

void TemplatePath(std::string_view path, std::string* out) {
  out->clear();
  path = StripQuery(path);
  size_t i = 0;
  while (i < path.size()) {
    const size_t slash = path.find('/', i);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    const std::string_view seg = path.substr(i, end - i);
    if (IsIdSegment(seg)) {
      out->append("{id}");
    } else {
      out->append(seg);
    }
    if (slash == std::string_view::npos) break;
    out->push_back('/');
    i = slash + 1;
  }
}

void RouteTemplater::Route(std::string_view path, std::string* out, bool found) {
  TemplatePath(path, out);
  if (routes_.find(std::string_view(*out)) != routes_.end()) return;
  const bool admit = found || not_found_routes_ < std::max<size_t>(1, max_routes_ / 4);
  if (admit && routes_.size() < max_routes_) {
    if (!found) ++not_found_routes_;
    routes_.emplace(*out);
    return;
  }
  ++overflowed_;
  out->assign(kOverflowRoute);
}

}  // namespace zerotrace::protocols
