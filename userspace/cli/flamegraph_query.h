#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/result.h"

namespace zerotrace {

// The parameters of a /flamegraph request, checked.
struct FlamegraphQuery {
  std::string type = "oncpu";  // oncpu | offcpu | gpu
  std::string format = "svg";  // svg | folded | pprof
  uint64_t seconds = 10;       // 1..300
  uint32_t pid = 0;            // 0: every process
};

// Checks /flamegraph's decoded query parameters (missing ones take their defaults). The error
// message is the body of the 400 answer. A function of its own so it can be fuzzed without a
// daemon: the query string is the one input of /flamegraph that any client controls.
Result<FlamegraphQuery> ParseFlamegraphQuery(const std::map<std::string, std::string>& query);

}  // namespace zerotrace
