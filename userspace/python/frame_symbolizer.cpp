#include "python/frame_symbolizer.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "core/untrusted_file.h"
#include "python/location_table.h"
#include "symbolizer/proc_maps.h"

namespace zerotrace::python {
namespace {

// Names and file names from a workload are bounded (they become flamegraph labels).
constexpr uint64_t kMaxNameChars = 512;
constexpr uint64_t kMaxLineTableBytes = 1 << 20;
constexpr size_t kMaxCodesPerProcess = 1 << 16;
constexpr size_t kMaxInterpreterFiles = 1024;

bool ReadRemote(uint32_t pid, uint64_t address, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(address), len};
  return process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0) ==
         static_cast<ssize_t>(len);
}

uint64_t ReadU64(uint32_t pid, uint64_t address, bool* ok) {
  uint64_t v = 0;
  if (!ReadRemote(pid, address, &v, sizeof(v))) *ok = false;
  return v;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;  // lone surrogates are not UTF-8
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x110000) {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    AppendUtf8(0xfffd, out);
  }
}

// A compact str object (every identifier and file name is one) as UTF-8.
std::optional<std::string> ReadStr(uint32_t pid, const CodeLayout& layout, uint64_t obj) {
  if (!obj) return std::nullopt;
  uint8_t head[48];
  if (!ReadRemote(pid, obj, head, sizeof(head))) return std::nullopt;
  int64_t length = 0;
  uint32_t state = 0;
  std::memcpy(&length, head + 16, sizeof(length));
  std::memcpy(&state, head + 32, sizeof(state));
  const uint32_t kind = (state >> 2) & 7;
  const bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (!compact || length < 0 || (kind != 1 && kind != 2 && kind != 4)) return std::nullopt;
  const uint64_t chars = std::min<uint64_t>(static_cast<uint64_t>(length), kMaxNameChars);
  std::string raw(chars * kind, '\0');
  const uint64_t data = obj + (ascii ? layout.ascii_data : layout.compact_data);
  if (!raw.empty() && !ReadRemote(pid, data, raw.data(), raw.size())) return std::nullopt;
  std::string out;
  out.reserve(chars);
  for (uint64_t i = 0; i < chars; ++i) {
    uint32_t cp = 0;
    std::memcpy(&cp, raw.data() + i * kind, kind);  // little-endian
    AppendUtf8(cp, &out);
  }
  return out;
}

}  // namespace

PythonFrameSymbolizer::PythonFrameSymbolizer(symbolizer::SymbolizerPtr native,
                                             std::string proc_root)
    : native_(std::move(native)), proc_root_(std::move(proc_root)) {}

bool PythonFrameSymbolizer::Decode(uint64_t address, uint64_t* code, int* index) {
  if (!(address & ZT_PY_FRAME_BIT)) return false;
  *code = (address & ((1ULL << ZT_PY_INDEX_SHIFT) - 1)) << 4;
  *index = static_cast<int>((address >> ZT_PY_INDEX_SHIFT) & ZT_PY_INDEX_MAX) - 1;
  return true;
}

const InterpreterLayout* PythonFrameSymbolizer::LayoutOf(uint32_t pid, Process& p) {
  if (p.inspected) return p.layout ? &*p.layout : nullptr;
  p.inspected = true;
  const auto maps = symbolizer::ProcMaps::Read(pid, proc_root_);
  const std::string root = proc_root_ + "/" + std::to_string(pid) + "/root";
  for (const auto& e : maps.entries()) {
    int minor = 0;
    if (!e.executable() || !e.file_backed() || !LooksLikeInterpreter(e.path, &minor)) continue;
    const auto key = std::make_tuple(e.dev_major, e.dev_minor, e.inode);
    auto known = files_.find(key);
    if (known == files_.end()) {
      std::optional<InterpreterLayout> layout;
      const int fd =
          OpenUntrustedFile(FileLocation{root, e.path}, {.max_bytes = kMaxBinaryFileBytes});
      if (fd >= 0) {
        auto file = InspectInterpreterFile(fd, minor, /*find_cold_part=*/false);
        close(fd);
        if (file.ok()) layout = LayoutFor(file->major, file->minor);
      }
      if (files_.size() >= kMaxInterpreterFiles) files_.clear();
      known = files_.emplace(key, layout).first;
    }
    p.layout = known->second;
    if (p.layout) break;
  }
  return p.layout ? &*p.layout : nullptr;
}

std::optional<PythonFrameSymbolizer::Code> PythonFrameSymbolizer::ReadCode(
    uint32_t pid, const InterpreterLayout& layout, uint64_t code) {
  const CodeLayout& c = layout.code;
  bool ok = true;
  Code out;
  int32_t first_line = 0;
  if (!ReadRemote(pid, code + c.first_line, &first_line, sizeof(first_line))) return std::nullopt;
  out.first_line = first_line;
  const uint64_t qualname = ReadU64(pid, code + c.qualname, &ok);
  const uint64_t filename = ReadU64(pid, code + c.filename, &ok);
  const uint64_t table = ReadU64(pid, code + c.line_table, &ok);
  if (!ok) return std::nullopt;
  auto q = ReadStr(pid, c, qualname);
  auto f = ReadStr(pid, c, filename);
  if (!q || !f) return std::nullopt;
  out.qualname = std::move(*q);
  out.filename = std::move(*f);
  int64_t size = 0;  // a bytes object: ob_size at 16, the bytes at 32
  if (table && ReadRemote(pid, table + 16, &size, sizeof(size)) && size > 0 &&
      static_cast<uint64_t>(size) <= kMaxLineTableBytes) {
    out.line_table.resize(static_cast<size_t>(size));
    if (!ReadRemote(pid, table + 32, out.line_table.data(), out.line_table.size())) {
      out.line_table.clear();
    }
  }
  return out;
}

profile::Frame PythonFrameSymbolizer::Symbolize(uint32_t pid, uint64_t address) {
  uint64_t code = 0;
  int index = -1;
  if (!Decode(address, &code, &index)) return native_->Symbolize(pid, address);
  profile::Frame f;
  f.kind = profile::FrameKind::kUser;
  f.function = "[python]";
  Process& p = procs_[pid];
  const InterpreterLayout* layout = LayoutOf(pid, p);
  if (!layout) return f;
  auto it = p.codes.find(code);
  if (it == p.codes.end()) {
    if (p.codes.size() >= kMaxCodesPerProcess) p.codes.clear();
    it = p.codes.emplace(code, ReadCode(pid, *layout, code)).first;
  }
  if (!it->second) return f;
  const Code& c = *it->second;
  f.function = c.qualname;
  f.module = c.filename;  // a source file: no address or mapping (pprof)
  const int line = LineOfCodeUnit(layout->code.line_format, c.line_table, c.first_line, index);
  f.line = line > 0 ? static_cast<uint32_t>(line) : 0;
  return f;
}

void PythonFrameSymbolizer::Forget(uint32_t pid) {
  procs_.erase(pid);
  native_->Forget(pid);
}

size_t PythonFrameSymbolizer::memory_bytes() const {
  size_t bytes = 0;
  for (const auto& [pid, p] : procs_) {
    for (const auto& [addr, c] : p.codes) {
      bytes += 64 + (c ? c->qualname.size() + c->filename.size() + c->line_table.size() : 0);
    }
  }
  return native_->memory_bytes() + bytes;
}

}  // namespace zerotrace::python
