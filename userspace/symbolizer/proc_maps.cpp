#include "symbolizer/proc_maps.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace zerotrace::symbolizer {

ProcMaps ProcMaps::Parse(std::string_view text) {
  ProcMaps maps;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    // 7f1c2a000000-7f1c2a022000 r-xp 00028000 fd:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6
    MapEntry e;
    char perms[8] = {};
    int path_pos = -1;
    const int n = std::sscanf(
        line.c_str(),
        "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %" SCNx64 ":%" SCNx64 " %" SCNu64 " %n", &e.start,
        &e.end, perms, &e.offset, &e.dev_major, &e.dev_minor, &e.inode, &path_pos);
    if (n < 7 || e.end <= e.start) continue;
    e.perms = perms;
    if (path_pos > 0 && static_cast<size_t>(path_pos) < line.size()) {
      e.path = line.substr(static_cast<size_t>(path_pos));
      while (!e.path.empty() && (e.path.back() == ' ' || e.path.back() == '\n')) e.path.pop_back();
    }
    maps.entries_.push_back(std::move(e));
  }
  std::sort(maps.entries_.begin(), maps.entries_.end(),
            [](const MapEntry& a, const MapEntry& b) { return a.start < b.start; });
  return maps;
}

ProcMaps ProcMaps::Read(uint32_t pid, const std::string& proc_root) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/maps");
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str());
}

const MapEntry* ProcMaps::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const MapEntry& e) { return a < e.start; });
  if (it == entries_.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

profile::Frame FallbackFrame(const MapEntry* entry, uint64_t address) {
  profile::Frame f;
  f.kind = profile::FrameKind::kUser;
  f.address = address;
  if (entry && !entry->path.empty()) {
    f.module = entry->path;
    f.module_offset = address - entry->start + entry->offset;
  }
  return f;
}

}  // namespace zerotrace::symbolizer
