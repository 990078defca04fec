#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "profile/profile.h"

namespace zerotrace::symbolizer {

// One line of /proc/PID/maps.
struct MapEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;  // file offset of `start`
  std::string perms;    // "r-xp"
  uint64_t dev_major = 0;
  uint64_t dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // file path, "[vdso]", "[heap]", or empty for anonymous memory

  bool executable() const { return perms.size() >= 3 && perms[2] == 'x'; }
  // Backed by a file (inode != 0 and an absolute path), so module+offset means something.
  bool file_backed() const { return inode != 0 && !path.empty() && path[0] == '/'; }
};

// A process's memory map, sorted by address.
class ProcMaps {
 public:
  ProcMaps() = default;
  static ProcMaps Parse(std::string_view text);
  // Reads /proc/PID/maps (proc_root for tests); empty when the process is gone.
  static ProcMaps Read(uint32_t pid, const std::string& proc_root = "/proc");

  const MapEntry* Find(uint64_t address) const;
  const std::vector<MapEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<MapEntry> entries_;
};

// The frame an address gets when no symbol is known: module path + file offset for file-backed
// memory (`/usr/lib/libfoo.so+0x1234` once named), the bare address otherwise.
profile::Frame FallbackFrame(const MapEntry* entry, uint64_t address);

}  // namespace zerotrace::symbolizer
