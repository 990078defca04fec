#include "symbolizer/kallsyms.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "core/hex.h"

namespace zerotrace::symbolizer {
namespace {

bool IsTextType(char t) { return t == 't' || t == 'T' || t == 'w' || t == 'W'; }

}  // namespace

bool IsSectionEndMarker(std::string_view name) {
  if (name == "_etext" || name == "_einittext") return true;
  return name.size() > 6 && name.substr(0, 2) == "__" && name.substr(name.size() - 4) == "_end";
}

namespace {

// The next whitespace-separated field of `line` from `pos` (empty at the end).
std::string_view NextField(std::string_view line, size_t& pos) {
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  const size_t start = pos;
  while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
  return line.substr(start, pos - start);
}

}  // namespace

Result<KernelSymbols> KernelSymbols::Parse(std::istream& in) {
  KernelSymbols out;
  out.modules_.emplace_back(kKernelModule);
  std::string line;
  bool any_nonzero = false;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t nft_do_chain\t[nf_tables]"
    size_t pos = 0;
    const std::string_view addr_text = NextField(line, pos);
    const std::string_view type = NextField(line, pos);
    const std::string_view name = NextField(line, pos);
    const std::string_view module = NextField(line, pos);
    if (name.empty() || type.size() != 1 || !IsTextType(type[0])) continue;
    // A name over 64 KiB, or over 4 GiB of names, is not kallsyms: skipped.
    if (name.size() > UINT16_MAX || out.names_.size() + name.size() > UINT32_MAX) continue;
    uint64_t address = 0;
    if (!ParseHex(addr_text, &address)) continue;
    if (address != 0) any_nonzero = true;
    uint16_t module_index = 0;
    if (!module.empty()) {
      // Symbols come grouped by module: the last one seen is almost always the one.
      auto m = out.modules_.end() - 1;
      if (*m != module) m = std::find(out.modules_.begin(), out.modules_.end(), module);
      if (m == out.modules_.end()) {
        if (out.modules_.size() > UINT16_MAX) continue;
        m = out.modules_.emplace(out.modules_.end(), module);
      }
      module_index = static_cast<uint16_t>(m - out.modules_.begin());
    }
    out.entries_.push_back({address, static_cast<uint32_t>(out.names_.size()),
                            static_cast<uint16_t>(name.size()), module_index});
    out.names_.append(name);
  }
  if (out.entries_.empty()) return Error{"no kernel text symbols found"};
  if (!any_nonzero) {
    return Error{
        "kernel symbol addresses are hidden (all zero): run as root or lower "
        "kernel.kptr_restrict"};
  }
  // At one address, an end marker sorts first: the function starting there is what Find gives.
  std::stable_sort(
      out.entries_.begin(), out.entries_.end(), [&out](const Entry& a, const Entry& b) {
        if (a.address != b.address) return a.address < b.address;
        return IsSectionEndMarker(out.View(a).name) && !IsSectionEndMarker(out.View(b).name);
      });
  out.entries_.shrink_to_fit();
  out.names_.shrink_to_fit();
  return out;
}

Result<KernelSymbols> KernelSymbols::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  auto r = Parse(in);
  if (!r) return Error{path + ": " + r.error().message};
  return r;
}

KernelSymbol KernelSymbols::View(const Entry& e) const {
  return {e.address, std::string_view(names_).substr(e.name_offset, e.name_length),
          modules_[e.module]};
}

std::optional<KernelSymbol> KernelSymbols::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const Entry& e) { return a < e.address; });
  if (it == entries_.begin()) return std::nullopt;
  const KernelSymbol s = View(*std::prev(it));
  if (IsSectionEndMarker(s.name)) return std::nullopt;
  return s;
}

size_t KernelSymbols::memory_bytes() const {
  size_t bytes = entries_.capacity() * sizeof(Entry) + names_.capacity();
  for (const auto& m : modules_) bytes += sizeof(m) + m.capacity();
  return bytes;
}

Result<std::shared_ptr<KallsymsSymbolizer>> KallsymsSymbolizer::Create(const std::string& path) {
  auto symbols = KernelSymbols::Load(path);
  if (!symbols) return symbols.error();
  return std::make_shared<KallsymsSymbolizer>(std::move(*symbols), path);
}

profile::Frame KallsymsSymbolizer::Symbolize(uint32_t /*pid*/, uint64_t address) {
  profile::Frame f;
  f.kind = profile::FrameKind::kKernel;
  f.address = address;
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<KernelSymbol> s = symbols_.Find(address);
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

size_t KallsymsSymbolizer::memory_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return symbols_.memory_bytes();
}

}  // namespace zerotrace::symbolizer
