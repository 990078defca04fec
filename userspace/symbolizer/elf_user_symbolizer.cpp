#include "symbolizer/elf_user_symbolizer.h"

#include <unistd.h>

#include "symbolizer/build_id.h"
#include "symbolizer/demangle.h"

namespace zerotrace::symbolizer {
namespace {

constexpr auto kMapsRefreshInterval = std::chrono::milliseconds(500);
constexpr size_t kMaxBuildIds = 4096;

std::pair<uint64_t, uint64_t> FileKey(const MapEntry& e) {
  return {(e.dev_major << 32) | e.dev_minor, e.inode};
}

}  // namespace

ElfUserSymbolizer::ElfUserSymbolizer(std::string proc_root, std::string perf_map_dir,
                                     std::vector<std::string> debug_dirs)
    : proc_root_(std::move(proc_root)),
      perf_map_dir_(std::move(perf_map_dir)),
      files_(std::move(debug_dirs)) {}

std::string ElfUserSymbolizer::ProcessRoot(uint32_t pid) const {
  return proc_root_ + "/" + std::to_string(pid) + "/root";
}

bool ElfUserSymbolizer::RefreshMaps(uint32_t pid, Process& p, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - p.maps_read < kMapsRefreshInterval) return false;
  ProcMaps fresh = ProcMaps::Read(pid, proc_root_);
  // A process that exited keeps its last snapshot: that is what lets late samples resolve.
  const bool read = !fresh.empty();
  if (read) p.maps = std::move(fresh);
  p.maps_read = now;
  const std::string perf_map = perf_map_dir_ + "/perf-" + std::to_string(pid) + ".map";
  if (access(perf_map.c_str(), R_OK) == 0) {
    PerfMap m = PerfMapParser::ReadFile(perf_map);
    if (!m.empty()) p.perf_map = std::move(m);
  }
  return read;
}

ElfUserSymbolizer::Process& ElfUserSymbolizer::GetOrCreate(uint32_t pid) {
  auto [it, inserted] = procs_.try_emplace(pid);
  if (inserted) RefreshMaps(pid, it->second, /*force=*/true);
  return it->second;
}

void ElfUserSymbolizer::Prepare(uint32_t pid) {
  auto [it, inserted] = procs_.try_emplace(pid);
  Process& p = it->second;
  if (!RefreshMaps(pid, p, inserted)) return;
  // Read the symbols of its code now, while /proc/PID/root still leads to its files.
  for (const auto& e : p.maps.entries()) {
    if (e.executable() && e.file_backed()) {
      files_.Get(FileKey(e), {{ProcessRoot(pid), e.path}, {"", e.path}});
    }
  }
}

std::string ElfUserSymbolizer::BuildIdFor(uint32_t pid, const MapEntry& entry) {
  const auto key = FileKey(entry);
  if (auto it = build_ids_.find(key); it != build_ids_.end()) return it->second;
  // Through the process's root so binaries inside containers are found.
  auto id = ReadBuildId(FileLocation{ProcessRoot(pid), entry.path});
  if (!id) id = ReadBuildId(entry.path);
  std::string value = id ? *id : std::string();
  if (build_ids_.size() >= kMaxBuildIds) build_ids_.clear();
  build_ids_[key] = value;
  return value;
}

profile::Frame ElfUserSymbolizer::Symbolize(uint32_t pid, uint64_t address) {
  Process& p = GetOrCreate(pid);
  const MapEntry* entry = p.maps.Find(address);
  if (!entry) {
    // Code loaded since our snapshot (dlopen, JIT): look again, at most every refresh interval.
    RefreshMaps(pid, p, false);
    entry = p.maps.Find(address);
  }
  profile::Frame frame = FallbackFrame(entry, address);

  // JIT code lives in anonymous executable memory and is named by the runtime's perf map.
  if (!entry || !entry->file_backed()) {
    if (const PerfMapEntry* jit = p.perf_map.Find(address)) {
      frame.function = Demangle(jit->name);
      frame.module = "[jit]";
      frame.module_offset = address - jit->start;
      frame.kind = profile::FrameKind::kJit;
    }
    return frame;
  }
  auto symbols = files_.Get(FileKey(*entry), {{ProcessRoot(pid), entry->path}, {"", entry->path}});
  if (auto name = symbols->FunctionAt(frame.module_offset))
    frame.function = Demangle(std::string(*name));
  frame.build_id = BuildIdFor(pid, *entry);
  return frame;
}

void ElfUserSymbolizer::Forget(uint32_t pid) { procs_.erase(pid); }

}  // namespace zerotrace::symbolizer
