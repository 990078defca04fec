#include "unwind/cfi_rows.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace zerotrace::unwind {
namespace {

constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRip = 16;  // the return address column on x86-64

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
struct CfiCloser {
  void operator()(Dwarf_CFI* c) const { dwarf_cfi_end(c); }
};
struct FrameFree {
  void operator()(Dwarf_Frame* f) const { free(f); }
};

Elf_Scn* FindSection(Elf* elf, const char* name, GElf_Shdr* shdr) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    if (!gelf_getshdr(scn, shdr)) continue;
    const char* n = elf_strptr(elf, shstrndx, shdr->sh_name);
    if (n && std::strcmp(n, name) == 0) return scn;
  }
  return nullptr;
}

// Initial locations of every FDE, sorted, from .eh_frame_hdr's search table. Only the encoding
// linkers write (datarel | sdata4 entries) is read; anything else gives none.
std::vector<uint64_t> FdeStarts(Elf* elf) {
  GElf_Shdr shdr;
  Elf_Scn* scn = FindSection(elf, ".eh_frame_hdr", &shdr);
  if (!scn) return {};
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || !data->d_buf || data->d_size < 12) return {};
  const auto* p = static_cast<const uint8_t*>(data->d_buf);
  const size_t size = data->d_size;
  // version 1; eh_frame_ptr encoding; fde_count encoding; table encoding.
  if (p[0] != 1 || p[2] != (DW_EH_PE_udata4) || p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
    return {};
  }
  size_t pos = 4;
  // eh_frame_ptr: 4 bytes for the encodings linkers use (pcrel|sdata4).
  if ((p[1] & 0x0f) != DW_EH_PE_sdata4 && (p[1] & 0x0f) != DW_EH_PE_udata4) return {};
  pos += 4;
  uint32_t count = 0;
  std::memcpy(&count, p + pos, 4);
  pos += 4;
  // A hostile table could name millions of functions: each costs a CFI interpretation.
  if (count > (size - pos) / 8 || count > ZT_UNWIND_MAX_ROWS_PER_FILE) return {};
  std::vector<uint64_t> starts;
  starts.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    int32_t rel = 0;
    std::memcpy(&rel, p + pos + 8 * static_cast<size_t>(i), 4);
    starts.push_back(shdr.sh_addr + static_cast<int64_t>(rel));
  }
  std::sort(starts.begin(), starts.end());
  return starts;
}

bool IsOp(const Dwarf_Op& op, uint8_t atom, uint64_t number = 0) {
  return op.atom == atom && op.number == number;
}

// The CFA rule of a row. `threshold` gets the PLT expression's constant.
zt_unwind_row CfaRule(Dwarf_Frame* frame) {
  zt_unwind_row r{};
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  r.cfa_rule = ZT_UNWIND_CFA_UNSUPPORTED;
  if (dwarf_frame_cfa(frame, &ops, &n) != 0 || n == 0) return r;
  if (n == 1 && ops[0].atom == DW_OP_bregx) {
    const auto off = static_cast<int64_t>(ops[0].number2);
    if (off < INT32_MIN || off > INT32_MAX) return r;
    if (ops[0].number == kRegRsp) r.cfa_rule = ZT_UNWIND_CFA_RSP;
    if (ops[0].number == kRegRbp) r.cfa_rule = ZT_UNWIND_CFA_RBP;
    r.cfa_offset = static_cast<int32_t>(off);
    return r;
  }
  // OpenSSL's perlasm (.cfi_cfa_expression %rsp+N,deref,+K): the caller's rsp kept in a slot.
  if ((n == 2 || n == 3) && ops[0].atom == DW_OP_breg7 && ops[1].atom == DW_OP_deref &&
      (n == 2 || ops[2].atom == DW_OP_plus_uconst)) {
    const auto off = static_cast<int64_t>(ops[0].number);
    const uint64_t plus = n == 3 ? ops[2].number : 0;
    if (off >= INT32_MIN && off <= INT32_MAX && plus <= INT16_MAX) {
      r.cfa_rule = ZT_UNWIND_CFA_DEREF_RSP;
      r.cfa_offset = static_cast<int32_t>(off);
      r.param = static_cast<int16_t>(plus);
    }
    return r;
  }
  // The PLT's expression (GNU ld, lld): rsp + 8 + ((rip & 15) >= N) << 3.
  if (n == 9 && ops[0].atom == DW_OP_breg7 && ops[1].atom == DW_OP_breg16 &&
      IsOp(ops[2], DW_OP_lit15) && IsOp(ops[3], DW_OP_and) && ops[4].atom >= DW_OP_lit0 &&
      ops[4].atom <= DW_OP_lit15 && IsOp(ops[5], DW_OP_ge) && IsOp(ops[6], DW_OP_lit3) &&
      IsOp(ops[7], DW_OP_shl) && IsOp(ops[8], DW_OP_plus)) {
    r.cfa_rule = ZT_UNWIND_CFA_PLT;
    r.cfa_offset = static_cast<int32_t>(static_cast<int64_t>(ops[0].number));
    r.param = static_cast<int16_t>(ops[4].atom - DW_OP_lit0);
  }
  return r;
}

// Where a register's caller value is: kind (same/undefined/at CFA+offset/other) and offset.
enum class RegRule { kSame, kUndefined, kAtCfa, kOther };
RegRule RegisterRule(Dwarf_Frame* frame, int reg, int64_t* offset) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  if (dwarf_frame_register(frame, reg, mem, &ops, &n) != 0) return RegRule::kOther;
  if (n == 0) return ops == nullptr ? RegRule::kSame : RegRule::kUndefined;
  if (n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
    *offset = static_cast<int64_t>(ops[1].number);
    return RegRule::kAtCfa;
  }
  if (n == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
    *offset = 0;
    return RegRule::kAtCfa;
  }
  return RegRule::kOther;
}

zt_unwind_row RowFor(Dwarf_Frame* frame, bool signal) {
  zt_unwind_row r{};
  if (signal) {
    r.cfa_rule = ZT_UNWIND_CFA_SIGNAL;
    return r;
  }
  int64_t ra_offset = 0;
  const RegRule ra = RegisterRule(frame, kRegRip, &ra_offset);
  if (ra == RegRule::kUndefined) {
    r.cfa_rule = ZT_UNWIND_CFA_END;
    return r;
  }
  r = CfaRule(frame);
  if (r.cfa_rule == ZT_UNWIND_CFA_UNSUPPORTED) return r;
  // The walker reads the return address at CFA - 8, which is what every x86-64 CIE says.
  if (ra != RegRule::kAtCfa || ra_offset != -8) {
    r.cfa_rule = ZT_UNWIND_CFA_UNSUPPORTED;
    return r;
  }
  int64_t bp_offset = 0;
  switch (RegisterRule(frame, kRegRbp, &bp_offset)) {
    case RegRule::kSame:
      r.rbp_rule = ZT_UNWIND_RBP_SAME;
      break;
    case RegRule::kAtCfa:
      // `param` is the PLT's threshold and the deref rule's addend: those rows keep rbp unknown.
      if (bp_offset >= INT16_MIN && bp_offset <= INT16_MAX && r.cfa_rule != ZT_UNWIND_CFA_PLT &&
          r.cfa_rule != ZT_UNWIND_CFA_DEREF_RSP) {
        r.rbp_rule = ZT_UNWIND_RBP_AT_CFA;
        r.param = static_cast<int16_t>(bp_offset);
      } else {
        r.rbp_rule = ZT_UNWIND_RBP_UNKNOWN;
      }
      break;
    default:
      r.rbp_rule = ZT_UNWIND_RBP_UNKNOWN;
  }
  return r;
}

bool SameRule(const zt_unwind_row& a, const zt_unwind_row& b) {
  return a.cfa_rule == b.cfa_rule && a.cfa_offset == b.cfa_offset && a.param == b.param &&
         a.rbp_rule == b.rbp_rule;
}

void Append(std::vector<zt_unwind_row>* rows, uint64_t pc, zt_unwind_row rule) {
  rule.pc = static_cast<uint32_t>(pc);
  if (!rows->empty() && SameRule(rows->back(), rule)) return;
  if (!rows->empty() && rows->back().pc == rule.pc) {
    rows->back() = rule;
    return;
  }
  rows->push_back(rule);
}

}  // namespace

Result<CfiRows> ReadCfiRows(int fd) {
  elf_version(EV_CURRENT);
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd, ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return Error{"not an ELF file"};
  CfiRows out;
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) return Error{"no program headers"};
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
      out.loads.push_back({ph.p_offset, ph.p_filesz, ph.p_vaddr});
    }
  }
  const std::vector<uint64_t> starts = FdeStarts(elf.get());
  if (starts.empty()) return out;
  std::unique_ptr<Dwarf_CFI, CfiCloser> cfi(dwarf_getcfi_elf(elf.get()));
  if (!cfi) return out;

  for (size_t i = 0; i < starts.size(); ++i) {
    const uint64_t next = i + 1 < starts.size() ? starts[i + 1] : UINT64_MAX;
    if (starts[i] > UINT32_MAX) break;
    uint64_t addr = starts[i];
    bool any = false;
    while (addr < next) {
      Dwarf_Frame* raw = nullptr;
      if (dwarf_cfi_addrframe(cfi.get(), addr, &raw) != 0) break;
      std::unique_ptr<Dwarf_Frame, FrameFree> frame(raw);
      Dwarf_Addr start = 0, end = 0;
      bool signal = false;
      if (dwarf_frame_info(frame.get(), &start, &end, &signal) < 0 || end <= addr) break;
      const zt_unwind_row row = RowFor(frame.get(), signal);
      if (row.cfa_rule == ZT_UNWIND_CFA_UNSUPPORTED) ++out.unsupported;
      Append(&out.rows, addr, row);
      any = true;
      addr = end;
    }
    if (any) ++out.functions;
    // Between this function's end and the next one: no rule.
    if (addr < next && addr <= UINT32_MAX) Append(&out.rows, addr, zt_unwind_row{});
    if (out.rows.size() > ZT_UNWIND_MAX_ROWS_PER_FILE) {
      out.rows.clear();
      out.over_row_bound = true;
      return out;
    }
  }
  return out;
}

bool MappingBias(const std::vector<LoadSegment>& loads, uint64_t start, uint64_t offset,
                 uint64_t* bias) {
  for (const LoadSegment& s : loads) {
    if (offset >= s.offset && offset < s.offset + s.filesz) {
      // runtime = start + (file offset - offset); vaddr = s.vaddr + (file offset - s.offset).
      *bias = start - offset + s.offset - s.vaddr;
      return true;
    }
  }
  return false;
}

}  // namespace zerotrace::unwind
