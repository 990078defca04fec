#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zerotrace::symbolizer {

// A JIT's symbol map, /tmp/perf-PID.map: one "START SIZE name" line per generated function
// (hex START and SIZE, the name may contain spaces). Written by V8 (--perf-basic-prof), the JVM
// (perf-map-agent), .NET, LuaJIT, Python 3.12+ (-X perf)...
struct PerfMapEntry {
  uint64_t start = 0;
  uint64_t size = 0;
  std::string name;
};

class PerfMap {
 public:
  const PerfMapEntry* Find(uint64_t address) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  friend class PerfMapParser;
  std::vector<PerfMapEntry> entries_;  // sorted by start; later lines win on equal starts
};

class PerfMapParser {
 public:
  struct Stats {
    size_t lines = 0;
    size_t bad_lines = 0;
  };
  static PerfMap Parse(std::string_view text, Stats* stats = nullptr);
  // A perf map written by a JIT (V8, the JVM's agents) rarely passes a few MiB; the bound keeps a
  // planted 10 GiB file out of memory (zerotrace_untrusted_files_refused_total{too_large}).
  static constexpr uint64_t kMaxFileBytes = 128ull << 20;
  // Reads /tmp/perf-PID.map (or `path`); empty when there is none or it is refused: not a regular
  // file, larger than kMaxFileBytes, or reached through a symbolic link (the process writes
  // that file itself, so a link there was planted).
  static PerfMap ReadFile(const std::string& path, Stats* stats = nullptr);
  static std::string PathFor(uint32_t pid) { return "/tmp/perf-" + std::to_string(pid) + ".map"; }
};

}  // namespace zerotrace::symbolizer
