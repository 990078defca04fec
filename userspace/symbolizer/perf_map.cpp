#include "symbolizer/perf_map.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "core/hex.h"
#include "core/untrusted_file.h"

namespace zerotrace::symbolizer {
namespace {

// perf maps are written by many JITs: some prefix addresses with 0x, most do not.
std::string_view WithoutHexPrefix(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  return text;
}

}  // namespace

const PerfMapEntry* PerfMap::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const PerfMapEntry& e) { return a < e.start; });
  // Entries may overlap (a JIT reuses memory); the closest start at or below wins.
  while (it != entries_.begin()) {
    --it;
    if (address < it->start + it->size) return &*it;
    if (it->start + it->size <= address && it->size != 0) return nullptr;
  }
  return nullptr;
}

PerfMap PerfMapParser::Parse(std::string_view text, Stats* stats) {
  PerfMap map;
  Stats local;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    ++local.lines;
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    PerfMapEntry e;
    if (sp2 == std::string_view::npos ||
        !ParseHex(WithoutHexPrefix(line.substr(0, sp1)), &e.start) ||
        !ParseHex(WithoutHexPrefix(line.substr(sp1 + 1, sp2 - sp1 - 1)), &e.size) ||
        sp2 + 1 >= line.size()) {
      ++local.bad_lines;
      continue;
    }
    e.name = std::string(line.substr(sp2 + 1));
    map.entries_.push_back(std::move(e));
  }
  std::stable_sort(map.entries_.begin(), map.entries_.end(),
                   [](const PerfMapEntry& a, const PerfMapEntry& b) { return a.start < b.start; });
  if (stats) *stats = local;
  return map;
}

PerfMap PerfMapParser::ReadFile(const std::string& path, Stats* stats) {
  const int fd =
      OpenUntrustedFile({"", path}, {.max_bytes = kMaxFileBytes, .follow_symlinks = false});
  if (fd < 0) return {};
  std::string text;
  char buf[64 * 1024];
  ssize_t n;
  // Bounded again while reading: the file may grow after the size check.
  while ((n = read(fd, buf, sizeof(buf))) > 0 && text.size() < kMaxFileBytes) {
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Parse(text, stats);
}

}  // namespace zerotrace::symbolizer
