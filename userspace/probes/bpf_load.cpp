#include "probes/bpf_load.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string_view>

namespace zerotrace {
namespace {

// libbpf's printer is process-wide: loads are serialised so the capture below sees only its own
// load's messages, and the printer installed by the CLI still gets every line.
std::mutex g_load_mu;
std::string* g_capture = nullptr;
libbpf_print_fn_t g_next = nullptr;

int CapturingPrint(libbpf_print_level level, const char* fmt, va_list args) {
  if (g_capture && level == LIBBPF_WARN) {
    va_list copy;
    va_copy(copy, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
      std::string s(static_cast<size_t>(n) + 1, '\0');
      va_copy(copy, args);
      std::vsnprintf(s.data(), s.size(), fmt, copy);
      va_end(copy);
      s.resize(static_cast<size_t>(n));
      // A verifier log can be megabytes; its end holds the reason.
      constexpr size_t kKeep = 64 * 1024;
      g_capture->append(s.size() > kKeep ? s.substr(s.size() - kKeep) : s);
    }
  }
  return g_next ? g_next(level, fmt, args) : 0;
}

bool g_record_stats = false;
std::vector<VerifierStats> g_stats;

// Level 4 ends with a few lines, but the kernel counts what it wrote and later discarded while
// exploring branches, and fails the load with ENOSPC when that exceeds the buffer (16 KiB did,
// on 6.18). The buffer is left uninitialised: only the pages the kernel writes are touched.
constexpr size_t kStatsLogBytes = 4 * 1024 * 1024;

bool IsStatLine(std::string_view l) {
  for (const char* p : {"processed ", "verification time", "stack depth", "max_states_per_insn",
                        "-- END PROG LOAD LOG", "libbpf: prog"}) {
    if (l.rfind(p, 0) == 0) return true;
  }
  return false;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

}  // namespace

uint32_t VerifierStats::combined_stack() const {
  if (stack_depths.empty()) return 0;
  uint32_t deepest = 0;
  for (size_t i = 1; i < stack_depths.size(); ++i) deepest = std::max(deepest, stack_depths[i]);
  return stack_depths[0] + deepest;
}

std::string VerifierFailureReason(std::string_view log) {
  // The verifier log of the failed program sits between libbpf's BEGIN/END markers.
  const auto begin = log.rfind("-- BEGIN PROG LOAD LOG --");
  if (begin != std::string_view::npos) {
    log.remove_prefix(begin + std::strlen("-- BEGIN PROG LOAD LOG --"));
    const auto end = log.find("-- END PROG LOAD LOG --");
    if (end != std::string_view::npos) log = log.substr(0, end);
  }
  std::string last;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string_view::npos) nl = log.size();
    const std::string line = Trim(log.substr(pos, nl - pos));
    if (!line.empty() && !IsStatLine(line)) last = line;
    pos = nl + 1;
  }
  return last;
}

VerifierStats ParseVerifierStats(std::string_view log) {
  VerifierStats s;
  const std::string text(log);
  static const std::regex kProcessed(R"(processed (\d+) insns \(limit (\d+)\))");
  static const std::regex kStack(R"(stack depth ([0-9+]+))");
  std::smatch m;
  if (std::regex_search(text, m, kProcessed)) {
    s.insns_processed = std::stoull(m[1]);
    s.insn_limit = std::stoull(m[2]);
  }
  if (std::regex_search(text, m, kStack)) {
    const std::string depths = m[1];
    size_t pos = 0;
    while (pos < depths.size()) {
      size_t plus = depths.find('+', pos);
      if (plus == std::string::npos) plus = depths.size();
      if (plus > pos) s.stack_depths.push_back(std::stoul(depths.substr(pos, plus - pos)));
      pos = plus + 1;
    }
  }
  return s;
}

void SetVerifierStatsRecording(bool on) {
  std::lock_guard lock(g_load_mu);
  g_record_stats = on;
}

std::vector<VerifierStats> TakeVerifierStats() {
  std::lock_guard lock(g_load_mu);
  return std::exchange(g_stats, {});
}

Status LoadBpfSkeleton(bpf_object_skeleton* skeleton, const std::string& probe) {
  std::lock_guard lock(g_load_mu);
  bpf_object* obj = *skeleton->obj;
  // With stats on, each program gets a small log buffer at BPF_LOG_STATS (level 4): the kernel
  // writes a few lines on success. Level 1 would log every instruction and could overflow.
  std::map<std::string, std::unique_ptr<char[]>> logs;
  if (g_record_stats) {
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      if (!bpf_program__autoload(p)) continue;
      auto& buf = logs[bpf_program__name(p)];
      buf = std::make_unique_for_overwrite<char[]>(kStatsLogBytes);
      buf[0] = '\0';
      bpf_program__set_log_buf(p, buf.get(), kStatsLogBytes);
      bpf_program__set_log_level(p, 4);
    }
  }
  // Developers: ZT_VERIFIER_LOG_DIR=DIR writes each program's full verifier log (level 2: every
  // instruction processed, with its state; hundreds of MB for the sockets programs) to
  // DIR/<probe>.<program>.log, to see where the budget goes; ZT_VERIFIER_LOG_PROGRAM=NAME limits
  // it to one program. (Level 1 keeps only the last path on success.)
  const char* log_dir = std::getenv("ZT_VERIFIER_LOG_DIR");
  std::map<std::string, std::unique_ptr<char[]>> full_logs;
  const char* log_program = std::getenv("ZT_VERIFIER_LOG_PROGRAM");
  constexpr size_t kFullLogBytes = 1000u << 20;
  if (log_dir != nullptr && *log_dir != '\0') {
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      if (!bpf_program__autoload(p)) continue;
      if (log_program != nullptr && std::string_view(log_program) != bpf_program__name(p)) continue;
      auto& buf = full_logs[bpf_program__name(p)];
      buf = std::make_unique_for_overwrite<char[]>(kFullLogBytes);
      buf[0] = '\0';
      bpf_program__set_log_buf(p, buf.get(), kFullLogBytes);
      bpf_program__set_log_level(p, 2 | 4);
    }
  }
  std::string captured;
  g_capture = &captured;
  g_next = libbpf_set_print(CapturingPrint);
  const int err = bpf_object__load_skeleton(skeleton);
  libbpf_set_print(g_next);
  g_capture = nullptr;
  for (auto& [name, buf] : full_logs) {
    std::ofstream(std::string(log_dir) + "/" + probe + "." + name + ".log") << buf.get();
  }
  if (err) {
    std::string msg = probe + ": the kernel refused its BPF programs (" + std::strerror(-err) + ")";
    static const std::regex kFailedProg(R"(prog '([^']+)': BPF program load failed)");
    std::smatch m;
    if (std::regex_search(captured, m, kFailedProg)) msg += ": program '" + m[1].str() + "'";
    const std::string reason = VerifierFailureReason(captured);
    if (!reason.empty()) msg += ": " + reason;
    return Error{msg + " (`zerotrace probe` shows what this kernel supports)"};
  }
  for (auto& [name, buf] : logs) {
    VerifierStats s = ParseVerifierStats(buf.get());
    s.probe = probe;
    s.program = name;
    g_stats.push_back(std::move(s));
  }
  return Status::Ok();
}

}  // namespace zerotrace
