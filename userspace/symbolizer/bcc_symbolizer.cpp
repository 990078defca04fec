#include "symbolizer/bcc_symbolizer.h"

#include <bcc/bcc_syms.h>
#include <elf.h>
#include <unistd.h>

#include "symbolizer/build_id.h"
#include "symbolizer/demangle.h"

namespace zerotrace::symbolizer {
namespace {

constexpr auto kMapsRefreshInterval = std::chrono::milliseconds(500);
constexpr size_t kMaxBuildIds = 4096;

}  // namespace

BccUserSymbolizer::BccUserSymbolizer(std::string proc_root, std::string perf_map_dir)
    : proc_root_(std::move(proc_root)), perf_map_dir_(std::move(perf_map_dir)) {}

BccUserSymbolizer::~BccUserSymbolizer() {
  for (auto& [pid, p] : procs_) {
    if (p.symcache) bcc_free_symcache(p.symcache, static_cast<int>(pid));
  }
}

void BccUserSymbolizer::RefreshMaps(uint32_t pid, Process& p, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - p.maps_read < kMapsRefreshInterval) return;
  ProcMaps fresh = ProcMaps::Read(pid, proc_root_);
  // A process that exited keeps its last snapshot: that is what lets late samples resolve.
  if (!fresh.empty()) {
    const bool changed = fresh.entries().size() != p.maps.entries().size();
    p.maps = std::move(fresh);
    if (changed && p.symcache) bcc_symcache_refresh(p.symcache);
  }
  p.maps_read = now;
  const std::string perf_map = perf_map_dir_ + "/perf-" + std::to_string(pid) + ".map";
  if (access(perf_map.c_str(), R_OK) == 0) {
    PerfMap m = PerfMapParser::ReadFile(perf_map);
    if (!m.empty()) p.perf_map = std::move(m);
  }
}

BccUserSymbolizer::Process& BccUserSymbolizer::GetOrCreate(uint32_t pid) {
  auto [it, inserted] = procs_.try_emplace(pid);
  Process& p = it->second;
  if (inserted) {
    bcc_symbol_option opts{};
    opts.use_debug_file = 1;
    opts.check_debug_file_crc = 1;
    opts.lazy_symbolize = 1;
    opts.use_symbol_type = (1U << STT_FUNC) | (1U << STT_GNU_IFUNC);
    p.symcache = bcc_symcache_new(static_cast<int>(pid), &opts);
    RefreshMaps(pid, p, /*force=*/true);
  }
  return p;
}

void BccUserSymbolizer::Prepare(uint32_t pid) { RefreshMaps(pid, GetOrCreate(pid), false); }

std::string BccUserSymbolizer::BuildIdFor(uint32_t pid, const MapEntry& entry) {
  const auto key = std::make_pair((entry.dev_major << 32) | entry.dev_minor, entry.inode);
  if (auto it = build_ids_.find(key); it != build_ids_.end()) return it->second;
  // Through the process's root so binaries inside containers are found.
  auto id = ReadBuildId(proc_root_ + "/" + std::to_string(pid) + "/root" + entry.path);
  if (!id) id = ReadBuildId(entry.path);
  std::string value = id ? *id : std::string();
  if (build_ids_.size() >= kMaxBuildIds) build_ids_.clear();
  build_ids_[key] = value;
  return value;
}

flamegraph::Frame BccUserSymbolizer::Symbolize(uint32_t pid, uint64_t address) {
  Process& p = GetOrCreate(pid);
  const MapEntry* entry = p.maps.Find(address);
  if (!entry) {
    // Code loaded since our snapshot (dlopen, JIT): look again, at most every refresh interval.
    RefreshMaps(pid, p, false);
    entry = p.maps.Find(address);
  }
  flamegraph::Frame frame = FallbackFrame(entry, address);

  // JIT code lives in anonymous executable memory and is named by the runtime's perf map.
  if (!entry || !entry->file_backed()) {
    if (const PerfMapEntry* jit = p.perf_map.Find(address)) {
      frame.function = Demangle(jit->name);
      frame.module = "[jit]";
      frame.module_offset = address - jit->start;
      frame.kind = flamegraph::FrameKind::kJit;
      return frame;
    }
  }

  if (p.symcache) {
    bcc_symbol sym{};
    if (bcc_symcache_resolve(p.symcache, address, &sym) == 0 && sym.name) {
      frame.function = sym.demangle_name ? sym.demangle_name : sym.name;
      if (frame.module.empty() && sym.module) frame.module = sym.module;
    }
    bcc_symbol_free_demangle_name(&sym);
  }
  if (entry && entry->file_backed()) frame.build_id = BuildIdFor(pid, *entry);
  return frame;
}

void BccUserSymbolizer::Forget(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  if (it->second.symcache) bcc_free_symcache(it->second.symcache, static_cast<int>(pid));
  procs_.erase(it);
}

}  // namespace zerotrace::symbolizer
