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

namespace {

// One row per minor version: x86-64 release builds, offsets in bytes (offsetof() from each
// version's headers, checked in live interpreters: docs/design/python-frames.md).
struct VersionRow {
  int minor;
  // _PyRuntime -> interpreter -> thread states; the thread id (its FS base); its frame
  uint16_t interp_head, threads_head, thread_id, tstate_frame, cframe_frame;
  // a frame: code object, caller, current instruction, entry marker
  uint16_t frame_code, frame_previous, frame_instr, frame_entry;
  uint8_t entry_rule, instr_rule;
  uint16_t code_units;  // first code unit in a code object (3.11+)
  // a code object: first line, file name, (qualified) name, line table; str data
  uint16_t first_line, filename, qualname, line_table;
  LineTableFormat line_format;
  uint16_t ascii_data, compact_data;
};

constexpr uint16_t kNoCframe = ZT_PY_NO_CFRAME;
constexpr auto kLnotab = LineTableFormat::kLnotab;
constexpr auto kLineTable = LineTableFormat::kLineTable;
constexpr auto kLocations = LineTableFormat::kLocations;

// 3.8-3.10: one PyFrameObject per eval call (f_code 32, f_back 24, int f_lasti; the thread state
// points at the innermost); co_name (no co_qualname). 3.11: _PyInterpreterFrame through cframe,
// is_entry marks an activation's first frame. 3.12: a C-owned trampoline frame (owner byte)
// precedes it. 3.13: the thread state points at the frame directly.
constexpr VersionRow kVersions[] = {
    {8, 32, 8, 176, 24, kNoCframe, 32, 24, 104, 32, ZT_PY_ENTRY_EVERY, ZT_PY_INSTR_LASTI_BYTES, 0,
     40, 104, 112, 120, kLnotab, 48, 72},
    {9, 32, 8, 176, 24, kNoCframe, 32, 24, 104, 32, ZT_PY_ENTRY_EVERY, ZT_PY_INSTR_LASTI_BYTES, 0,
     40, 104, 112, 120, kLnotab, 48, 72},
    {10, 32, 8, 176, 24, kNoCframe, 32, 24, 96, 32, ZT_PY_ENTRY_EVERY, ZT_PY_INSTR_LASTI_UNITS, 0,
     40, 104, 112, 120, kLineTable, 48, 72},
    {11, 40, 16, 152, 56, 8, 32, 48, 56, 68, ZT_PY_ENTRY_FLAG, ZT_PY_INSTR_POINTER, 184, 72, 112,
     128, 136, kLocations, 48, 72},
    {12, 40, 72, 136, 56, 0, 0, 8, 56, 70, ZT_PY_ENTRY_CSTACK, ZT_PY_INSTR_POINTER, 192, 68, 112,
     128, 136, kLocations, 40, 56},
    {13, 632, 7344, 152, 72, kNoCframe, 0, 8, 56, 70, ZT_PY_ENTRY_CSTACK, ZT_PY_INSTR_POINTER, 200,
     68, 112, 128, 136, kLocations, 40, 56},
};

}  // namespace

std::optional<InterpreterLayout> LayoutFor(int major, int minor) {
  if (major != 3) return std::nullopt;
  for (const VersionRow& v : kVersions) {
    if (v.minor != minor) continue;
    InterpreterLayout l;
    l.minor = minor;
    zt_unwind_python& k = l.kernel;
    k.interp_head = v.interp_head;
    k.threads_head = v.threads_head;
    k.tstate_next = 8;
    k.tstate_thread_id = v.thread_id;
    k.tstate_frame = v.tstate_frame;
    k.cframe_frame = v.cframe_frame;
    k.frame_code = v.frame_code;
    k.frame_previous = v.frame_previous;
    k.frame_instr = v.frame_instr;
    k.frame_entry = v.frame_entry;
    k.code_units = v.code_units;
    k.entry_rule = v.entry_rule;
    k.instr_rule = v.instr_rule;
    l.code = CodeLayout{.first_line = v.first_line,
                        .filename = v.filename,
                        .qualname = v.qualname,
                        .line_table = v.line_table,
                        .line_format = v.line_format,
                        .ascii_data = v.ascii_data,
                        .compact_data = v.compact_data};
    return l;
  }
  return std::nullopt;
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
  // python3.11, libpython3.11.so.1.0; not python3.11d (debug) or python3.13t (free-threaded):
  // their objects have other layouts, and reading them with these offsets would name garbage.
  if (!rest.empty() && rest.rfind(".so", 0) != 0) return false;
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
