#include "cli/flamegraph_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "flamegraph/folded.h"
#include "profiling/profiling_service.h"

namespace zerotrace {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int ConvertFlamegraph(const std::string& input, const std::string& output, const std::string& type,
                      const std::string& title) {
  const auto ptype = type == "offcpu" ? profile::ProfileType::kOffCpu
                     : type == "gpu"  ? profile::ProfileType::kGpu
                                      : profile::ProfileType::kOnCpu;
  flamegraph::FoldedReadResult read;
  if (input == "-") {
    read = flamegraph::FoldedReader::Read(std::cin, ptype);
  } else {
    std::ifstream in(input);
    if (!in) {
      std::fprintf(stderr, "zerotrace flamegraph: cannot read %s\n", input.c_str());
      return 2;
    }
    read = flamegraph::FoldedReader::Read(in, ptype);
  }
  if (!read.ok) {
    std::fprintf(stderr, "zerotrace flamegraph: %s: %s\n", input.c_str(), read.error.c_str());
    return 2;
  }
  if (read.bad_lines) {
    std::fprintf(stderr, "zerotrace flamegraph: skipped %zu malformed line(s) of %zu\n",
                 read.bad_lines, read.lines);
  }
  if (read.profile.samples.empty()) {
    std::fprintf(stderr,
                 "zerotrace flamegraph: %s has no stacks (expected folded lines: "
                 "\"frame;frame;frame COUNT\")\n",
                 input.c_str());
    return 1;
  }
  const std::string format = EndsWith(output, ".pb.gz") || EndsWith(output, ".pprof") ? "pprof"
                             : EndsWith(output, ".folded")                            ? "folded"
                                                                                      : "svg";
  auto rendered = profiling::RenderProfile(read.profile, format, title.empty() ? input : title);
  if (!rendered) {
    std::fprintf(stderr, "zerotrace flamegraph: %s\n", rendered.error().message.c_str());
    return 1;
  }
  std::ofstream out(output, std::ios::binary);
  out << rendered->body;
  out.close();  // a full disk shows at the final flush: check after it
  if (!out) {
    std::fprintf(stderr, "zerotrace flamegraph: cannot write %s\n", output.c_str());
    return 1;
  }
  std::printf("wrote %s (%zu stacks)\n", output.c_str(), read.profile.samples.size());
  return 0;
}

}  // namespace zerotrace
