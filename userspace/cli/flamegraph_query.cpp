#include "cli/flamegraph_query.h"

#include <charconv>
#include <limits>
#include <optional>

namespace zerotrace {

Result<FlamegraphQuery> ParseFlamegraphQuery(const std::map<std::string, std::string>& query) {
  auto param = [&](const std::string& k, const std::string& def) {
    auto it = query.find(k);
    return it == query.end() ? def : it->second;
  };
  FlamegraphQuery q;
  q.type = param("type", "oncpu");
  q.format = param("format", "svg");
  if (q.type != "oncpu" && q.type != "offcpu" && q.type != "gpu") {
    return Error{"type '" + q.type + "' is not one of oncpu|offcpu|gpu\n"};
  }
  if (q.format != "svg" && q.format != "folded" && q.format != "pprof") {
    return Error{"format '" + q.format + "' is not one of svg|folded|pprof\n"};
  }
  auto number = [](const std::string& text, uint64_t max) -> std::optional<uint64_t> {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v > max) {
      return std::nullopt;
    }
    return v;
  };
  const auto seconds = number(param("seconds", "10"), 300);
  if (!seconds || *seconds < 1) return Error{"seconds must be 1..300\n"};
  const auto pid = number(param("pid", "0"), std::numeric_limits<int32_t>::max());
  if (!pid) return Error{"pid must be a process id\n"};
  q.seconds = *seconds;
  q.pid = static_cast<uint32_t>(*pid);
  return q;
}

}  // namespace zerotrace
