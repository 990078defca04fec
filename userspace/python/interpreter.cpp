#include "python/interpreter.h"

#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace zerotrace::python {

std::optional<InterpreterLayout> LayoutFor(int major, int minor) {
  if (major != 3) return std::nullopt;
  InterpreterLayout l;
  l.minor = minor;
  zt_unwind_python& k = l.kernel;
  k.tstate_next = 8;
  if (minor >= 8 && minor <= 10) {
    // One PyFrameObject per C call of the eval loop; the thread state points at the innermost.
    k.interp_head = 32;
    k.threads_head = 8;  // tstate_head
    k.tstate_thread_id = 176;
    k.tstate_frame = 24;  // frame
    k.cframe_frame = ZT_PY_NO_CFRAME;
    k.frame_code = 32;      // f_code
    k.frame_previous = 24;  // f_back
    k.frame_entry = 32;     // unused (every frame is an entry)
    k.entry_rule = ZT_PY_ENTRY_EVERY;
    k.frame_instr = minor == 10 ? 96 : 104;  // int f_lasti
    k.instr_rule = minor == 10 ? ZT_PY_INSTR_LASTI_UNITS : ZT_PY_INSTR_LASTI_BYTES;
    l.code.first_line = 40;
    l.code.filename = 104;
    l.code.qualname = 112;  // co_name: no co_qualname before 3.11
    l.code.line_table = 120;
    l.code.line_format = minor == 10 ? LineTableFormat::kLineTable : LineTableFormat::kLnotab;
    l.code.ascii_data = 48;
    l.code.compact_data = 72;
    return l;
  }
  k.frame_instr = 56;  // prev_instr (3.11, 3.12), instr_ptr (3.13)
  k.instr_rule = ZT_PY_INSTR_POINTER;
  l.code.filename = 112;
  l.code.qualname = 128;
  l.code.line_table = 136;
  l.code.line_format = LineTableFormat::kLocations;
  switch (minor) {
    case 11:
      k.interp_head = 40;
      k.threads_head = 16;
      k.tstate_thread_id = 152;
      k.tstate_frame = 56;  // cframe
      k.cframe_frame = 8;   // cframe->current_frame
      k.frame_code = 32;
      k.frame_previous = 48;
      k.frame_entry = 68;  // is_entry
      k.entry_rule = ZT_PY_ENTRY_FLAG;
      k.code_units = 184;  // co_code_adaptive
      l.code.first_line = 72;
      l.code.ascii_data = 48;
      l.code.compact_data = 72;
      return l;
    case 12:
      k.interp_head = 40;
      k.threads_head = 72;
      k.tstate_thread_id = 136;
      k.tstate_frame = 56;
      k.cframe_frame = 0;
      k.frame_code = 0;
      k.frame_previous = 8;
      k.frame_entry = 70;  // owner
      k.entry_rule = ZT_PY_ENTRY_CSTACK;
      k.code_units = 192;
      l.code.first_line = 68;
      l.code.ascii_data = 40;
      l.code.compact_data = 56;
      return l;
    case 13:
      k.interp_head = 632;
      k.threads_head = 7344;
      k.tstate_thread_id = 152;
      k.tstate_frame = 72;  // current_frame
      k.cframe_frame = ZT_PY_NO_CFRAME;
      k.frame_code = 0;  // f_executable
      k.frame_previous = 8;
      k.frame_entry = 70;
      k.entry_rule = ZT_PY_ENTRY_CSTACK;
      k.code_units = 200;
      l.code.first_line = 68;
      l.code.ascii_data = 40;
      l.code.compact_data = 56;
      return l;
    default:
      return std::nullopt;
  }
}

bool LooksLikeInterpreter(std::string_view path, int* minor) {
  const size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (name.rfind("lib", 0) == 0) {
    name.remove_prefix(3);
    if (name.find(".so") == std::string_view::npos) return false;
  }
  if (name.rfind("python3.", 0) != 0) return false;
  name.remove_prefix(8);
  int m = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), m);
  if (ec != std::errc() || end == name.data()) return false;
  const std::string_view rest(end, name.data() + name.size() - end);
  // python3.11, libpython3.11.so.1.0, python3.11d (debug builds: other layouts, refused later)
  if (!rest.empty() && rest.rfind(".so", 0) != 0 && rest != "d" && rest != "m") return false;
  *minor = m;
  return true;
}

namespace {

struct ElfHandle {
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
  }
};

struct Symbol {
  uint64_t value = 0;
  uint64_t size = 0;
};

// The .dynsym (and .symtab) entries of `wanted` names.
std::map<std::string, Symbol> FindSymbols(Elf* elf, const std::vector<std::string>& wanted) {
  std::map<std::string, Symbol> found;
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB)) {
      continue;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || sh.sh_entsize == 0) continue;
    const size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym s;
      if (!gelf_getsym(data, static_cast<int>(i), &s) || s.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, sh.sh_link, s.st_name);
      if (!name) continue;
      for (const std::string& w : wanted) {
        if (w == name) found[w] = Symbol{s.st_value, s.st_size};
      }
    }
  }
  return found;
}

// Reads `len` bytes at ELF virtual address `vaddr` from the file (through the PT_LOAD
// segments); false when they are not all in the file.
bool ReadAtVaddr(Elf* elf, int fd, uint64_t vaddr, size_t len, void* out) {
  size_t n = 0;
  if (elf_getphdrnum(elf, &n) != 0) return false;
  for (size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD) continue;
    if (vaddr < ph.p_vaddr || vaddr - ph.p_vaddr + len > ph.p_filesz) continue;
    const off_t off = static_cast<off_t>(ph.p_offset + (vaddr - ph.p_vaddr));
    return pread(fd, out, len, off) == static_cast<ssize_t>(len);
  }
  return false;
}

// The cold part of a function: GCC's -freorder-blocks-and-partition moves its unlikely blocks
// into a separate piece (`name.cold`, a symbol only in unstripped files) that has its own FDE.
// The function jumps there many times: the FDE that most of its rel32 jumps and conditional
// jumps leaving it land in is the cold part. (Byte patterns that only look like jumps land at
// scattered places; a real cold part draws dozens.)
void FindColdPart(Elf* elf, int fd, InterpreterFile* f) {
  const uint64_t size = f->eval_end - f->eval_start;
  if (size == 0 || size > (4u << 20)) return;
  std::vector<uint8_t> code(size);
  if (!ReadAtVaddr(elf, fd, f->eval_start, size, code.data())) return;
  Dwarf_CFI* cfi = dwarf_getcfi_elf(elf);
  if (!cfi) return;
  std::map<std::pair<uint64_t, uint64_t>, int> hits;
  for (size_t i = 0; i + 5 <= size; ++i) {
    size_t len = 0;
    if (code[i] == 0xe9) {
      len = 5;
    } else if (code[i] == 0x0f && i + 6 <= size && (code[i + 1] & 0xf0) == 0x80) {
      len = 6;
    } else {
      continue;
    }
    int32_t rel;
    std::memcpy(&rel, &code[i + len - 4], 4);
    const uint64_t target = f->eval_start + i + len + static_cast<int64_t>(rel);
    if (target >= f->eval_start && target < f->eval_end) continue;
    Dwarf_Frame* frame = nullptr;
    if (dwarf_cfi_addrframe(cfi, target, &frame) != 0 || !frame) continue;
    Dwarf_Addr start = 0, end = 0;
    bool signal = false;
    dwarf_frame_info(frame, &start, &end, &signal);
    free(frame);
    if (end > start && !(f->eval_start >= start && f->eval_start < end)) ++hits[{start, end}];
  }
  int best = 0;
  for (const auto& [range, n] : hits) {
    if (n > best) {
      best = n;
      f->cold_start = range.first;
      f->cold_end = range.second;
    }
  }
  constexpr int kMinJumps = 8;
  if (best < kMinJumps) f->cold_start = f->cold_end = 0;
}

}  // namespace

Result<InterpreterFile> InspectInterpreterFile(int fd, int name_minor, bool find_cold_part) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Error{"python: libelf unusable"};
  ElfHandle h;
  // ELF_C_READ (pread per section), not mmap: a file truncated under us gives a short read.
  h.elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (!h.elf || elf_kind(h.elf) != ELF_K_ELF) return Error{"python: not an ELF file"};
  auto syms = FindSymbols(h.elf, {"_PyRuntime", "_PyEval_EvalFrameDefault", "Py_Version"});
  auto runtime = syms.find("_PyRuntime");
  auto eval = syms.find("_PyEval_EvalFrameDefault");
  if (runtime == syms.end() || eval == syms.end() || eval->second.size == 0) {
    return Error{"python: no _PyRuntime or _PyEval_EvalFrameDefault symbol"};
  }
  InterpreterFile f;
  f.major = 3;
  f.minor = name_minor;
  if (auto v = syms.find("Py_Version"); v != syms.end()) {
    uint32_t hex = 0;  // PY_VERSION_HEX: 0xMMmmppRS
    if (ReadAtVaddr(h.elf, fd, v->second.value, sizeof(hex), &hex)) {
      f.major = static_cast<int>(hex >> 24);
      f.minor = static_cast<int>((hex >> 16) & 0xff);
    }
  }
  f.runtime = runtime->second.value;
  f.eval_start = eval->second.value;
  f.eval_end = eval->second.value + eval->second.size;
  if (find_cold_part) FindColdPart(h.elf, fd, &f);
  return f;
}

}  // namespace zerotrace::python
