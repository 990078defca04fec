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
  std::stable_sort(
      out.symbols_.begin(), out.symbols_.end(),
      [](const KernelSymbol& a, const KernelSymbol& b) { return a.address < b.address; });
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
  return &*std::prev(it);
}

Result<std::shared_ptr<KallsymsSymbolizer>> KallsymsSymbolizer::Create(const std::string& path) {
  auto symbols = KernelSymbols::Load(path);
  if (!symbols) return symbols.error();
  return std::make_shared<KallsymsSymbolizer>(std::move(*symbols));
}

flamegraph::Frame KallsymsSymbolizer::Symbolize(uint32_t /*pid*/, uint64_t address) {
  flamegraph::Frame f;
  f.kind = flamegraph::FrameKind::kKernel;
  f.address = address;
  if (const KernelSymbol* s = symbols_.Find(address)) {
    f.function = s->name;
    f.module = s->module;
  }  // else: no module, so the frame is named by its bare address
  return f;
}

}  // namespace zerotrace::symbolizer
