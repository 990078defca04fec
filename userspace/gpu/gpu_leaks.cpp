#include "gpu/gpu_leaks.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

namespace zerotrace::gpu {

void GpuLeaks::OnDriverAlloc(uint32_t tgid, uint64_t address, uint64_t bytes,
                             const std::function<Site()>& site) {
  Ledgers& p = procs_[tgid];
  p.driver_seen = true;
  auto it = p.driver.find(address);
  if (it != p.driver.end()) {  // a free we missed: replace
    p.driver_bytes -= it->second.bytes;
    it->second = {bytes, site()};
    p.driver_bytes += bytes;
    return;
  }
  if (p.driver.size() >= max_per_process_) return;
  p.driver.emplace(address, Allocation{bytes, site()});
  p.driver_bytes += bytes;
}

bool GpuLeaks::OnDriverFree(uint32_t tgid, uint64_t address) {
  auto p = procs_.find(tgid);
  if (p == procs_.end()) return false;
  auto it = p->second.driver.find(address);
  if (it == p->second.driver.end()) return false;
  p->second.driver_bytes -= it->second.bytes;
  p->second.driver.erase(it);
  return true;
}

void GpuLeaks::OnCuptiAlloc(uint32_t tgid, uint64_t address, uint64_t bytes) {
  Ledgers& p = procs_[tgid];
  if (p.cupti.size() < max_per_process_ && p.cupti.try_emplace(address, bytes).second) {
    p.cupti_bytes += bytes;
  }
}

void GpuLeaks::OnCuptiRelease(uint32_t tgid, uint64_t address) {
  auto p = procs_.find(tgid);
  if (p == procs_.end()) return;
  if (auto it = p->second.cupti.find(address); it != p->second.cupti.end()) {
    p->second.cupti_bytes -= it->second;
    p->second.cupti.erase(it);
  }
}

uint64_t GpuLeaks::Outstanding(uint32_t tgid) const {
  auto p = procs_.find(tgid);
  if (p == procs_.end()) return 0;
  return p->second.driver_seen ? p->second.driver_bytes : p->second.cupti_bytes;
}

bool GpuLeaks::DriverCounts(uint32_t tgid) const {
  auto p = procs_.find(tgid);
  return p != procs_.end() && p->second.driver_seen;
}

std::vector<ProcessLeaks> GpuLeaks::Leaks(
    size_t top_sites, const std::function<std::string(uint32_t)>& service) const {
  std::vector<ProcessLeaks> out;
  for (const auto& [tgid, p] : procs_) {
    if (!p.driver_seen && !p.cupti.empty()) {
      // Only CUPTI MEMORY2 records (no driver uprobes): sizes without allocation stacks.
      ProcessLeaks l;
      l.pid = tgid;
      l.service = service(tgid);
      l.outstanding_bytes = p.cupti_bytes;
      l.outstanding_allocations = p.cupti.size();
      l.sites.push_back({p.cupti_bytes, p.cupti.size(), -1, nullptr});
      out.push_back(std::move(l));
      continue;
    }
    if (p.driver.empty()) continue;
    ProcessLeaks l;
    l.pid = tgid;
    l.service = service(tgid);
    std::map<std::pair<int32_t, uint64_t>, LeakSite> sites;
    for (const auto& [address, a] : p.driver) {
      l.outstanding_bytes += a.bytes;
      ++l.outstanding_allocations;
      LeakSite& s = sites[{a.site.stack_id, a.site.caller}];
      s.stack_id = a.site.stack_id;
      s.bytes += a.bytes;
      ++s.allocations;
      if (!s.stack) s.stack = a.site.stack;
    }
    for (auto& [id, s] : sites) l.sites.push_back(std::move(s));
    std::sort(l.sites.begin(), l.sites.end(),
              [](const LeakSite& a, const LeakSite& b) { return a.bytes > b.bytes; });
    if (l.sites.size() > top_sites) l.sites.resize(top_sites);
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](const ProcessLeaks& a, const ProcessLeaks& b) {
    return a.outstanding_bytes != b.outstanding_bytes ? a.outstanding_bytes > b.outstanding_bytes
                                                      : a.pid < b.pid;
  });
  return out;
}

std::string GpuLeaks::Report(const std::vector<ProcessLeaks>& leaks) {
  if (leaks.empty()) return "no outstanding GPU allocations\n";
  std::ostringstream out;
  for (const auto& l : leaks) {
    out << l.service << " (pid " << l.pid << "): " << l.outstanding_bytes << " bytes in "
        << l.outstanding_allocations << " outstanding allocation"
        << (l.outstanding_allocations == 1 ? "" : "s") << "\n";
    for (const auto& s : l.sites) {
      out << "  " << s.bytes << " bytes in " << s.allocations << " allocation"
          << (s.allocations == 1 ? "" : "s") << " from:\n";
      if (!s.stack || s.stack->empty()) {
        out << "    [no stack: lost, or seen only by CUPTI]\n";
        continue;
      }
      for (auto it = s.stack->rbegin(); it != s.stack->rend(); ++it) {  // leaf first, like gdb
        out << "    " << profile::FrameName(*it) << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace zerotrace::gpu
