#include "symbolizer/kallsyms.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace zerotrace::symbolizer {
namespace {

bool IsTextType(char t) { return t == 't' || t == 'T' || t == 'w' || t == 'W'; }

}  // namespace

bool IsSectionEndMarker(const std::string& name) {
  if (name == "_etext" || name == "_einittext") return true;
  return name.size() > 6 && name.compare(0, 2, "__") == 0 &&
         name.compare(name.size() - 4, 4, "_end") == 0;
}

Result<KernelSymbols> KernelSymbols::Parse(std::istream& in) {
  KernelSymbols out;
  std::string line;
  bool any_nonzero = false;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t nft_do_chain\t[nf_tables]"
    std::istringstream fields(line);
    std::string addr_text, type, name, module;
    if (!(fields >> addr_text >> type >> name) || type.size() != 1) continue;
    if (!IsTextType(type[0])) continue;
    fields >> module;
    char* end = nullptr;
    const uint64_t address = std::strtoull(addr_text.c_str(), &end, 16);
    if (end == addr_text.c_str() || *end != '\0') continue;
    if (address != 0) any_nonzero = true;
    out.symbols_.push_back({address, std::move(name),
                            module.empty() ? std::string(kKernelModule) : std::move(module)});
  }
  if (out.symbols_.empty()) return Error{"no kernel text symbols found"};
  if (!any_nonzero) {
    return Error{
        "kernel symbol addresses are hidden (all zero): run as root or lower "
        "kernel.kptr_restrict"};
  }
  // At one address, an end marker sorts first: the function starting there is what Find gives.
  std::stable_sort(out.symbols_.begin(), out.symbols_.end(),
                   [](const KernelSymbol& a, const KernelSymbol& b) {
                     if (a.address != b.address) return a.address < b.address;
                     return IsSectionEndMarker(a.name) && !IsSectionEndMarker(b.name);
                   });
  return out;
}

Result<KernelSymbols> KernelSymbols::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  auto r = Parse(in);
  if (!r) return Error{path + ": " + r.error().message};
  return r;
}

const KernelSymbol* KernelSymbols::Find(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const KernelSymbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return nullptr;
  const KernelSymbol* s = &*std::prev(it);
  return IsSectionEndMarker(s->name) ? nullptr : s;
}

Result<std::shared_ptr<KallsymsSymbolizer>> KallsymsSymbolizer::Create(const std::string& path) {
  auto symbols = KernelSymbols::Load(path);
  if (!symbols) return symbols.error();
  return std::make_shared<KallsymsSymbolizer>(std::move(*symbols), path);
}

flamegraph::Frame KallsymsSymbolizer::Symbolize(uint32_t /*pid*/, uint64_t address) {
  flamegraph::Frame f;
  f.kind = flamegraph::FrameKind::kKernel;
  f.address = address;
  std::lock_guard<std::mutex> lock(mu_);
  const KernelSymbol* s = symbols_.Find(address);
  const auto now = std::chrono::steady_clock::now();
  if (!s && !path_.empty() && now - last_reload_ >= interval_) {
    last_reload_ = now;
    if (auto fresh = KernelSymbols::Load(path_)) {
      symbols_ = std::move(*fresh);
      ++reloads_;
      s = symbols_.Find(address);
    }
    interval_ = s ? base_interval_
                  : std::min<std::chrono::milliseconds>(interval_ * 2, std::chrono::minutes(10));
  }
  if (s) {
    f.function = s->name;
    f.module = s->module;
  }  // else: no module, so the frame is named by its bare address
  return f;
}

}  // namespace zerotrace::symbolizer
