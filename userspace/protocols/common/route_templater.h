#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

namespace zerotrace::protocols {

// Strips the query string/fragment and replaces id-like path segments with "{id}":
// all-digit numbers, UUIDs, and hex ids (>= 8 hex chars with at least one digit).
// Appends to *out (cleared first). Stateless and allocation-free once *out has capacity.
void TemplatePath(std::string_view path, std::string* out);

// Returns `path` without "?query" or "#fragment".
std::string_view StripQuery(std::string_view path);

// Bounds route cardinality: one instance per service. The first `max_routes` distinct templated
// routes admitted are kept; anything new after that, or not admitted, becomes "other" so metric
// labels stay bounded.
class RouteTemplater {
 public:
  static constexpr size_t kDefaultMaxRoutes = 100;
  static constexpr std::string_view kOverflowRoute = "other";

  explicit RouteTemplater(size_t max_routes = kDefaultMaxRoutes) : max_routes_(max_routes) {}

  // Writes the bounded route for `path` into *out. A route not known yet is added while there is
  // room; routes of exchanges that found nothing (`found` false: 404, unparsed) may take at most
  // a quarter of the table, so a scanner's missing paths cannot crowd out the real routes.
  // Otherwise the route reads "other".
  void Route(std::string_view path, std::string* out, bool found = true);

  size_t size() const { return routes_.size(); }
  size_t overflowed() const { return overflowed_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  size_t max_routes_;
  size_t overflowed_ = 0;
  size_t not_found_routes_ = 0;  // admitted by exchanges that found nothing
  std::unordered_set<std::string, Hash, std::equal_to<>> routes_;
};

}  // namespace zerotrace::protocols
