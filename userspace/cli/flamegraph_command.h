#pragma once

#include <string>

namespace zerotrace {

// `zerotrace flamegraph IN.folded -o OUT.{svg,pb.gz,folded}`; returns the exit code.
int ConvertFlamegraph(const std::string& input, const std::string& output, const std::string& type,
                      const std::string& title);

}  // namespace zerotrace
