#include "flamegraph/folded.h"

#include <charconv>
#include <fstream>
#include <istream>
#include <map>
#include <ostream>
#include <sstream>

#include "core/hex.h"

namespace zerotrace::flamegraph {
namespace {

constexpr std::string_view kKernelSuffix = "_[k]";
constexpr std::string_view kJitSuffix = "_[j]";
constexpr std::string_view kGpuPrefix = "[gpu] ";
constexpr std::string_view kUnknownName = "[unknown]";

// Decodes the undecorated part of a label (FrameName() without the kind decoration).
void ParseBaseName(std::string_view base, Frame& frame) {
  if (base == kUnknownName) return;
  uint64_t value = 0;
  if (base.size() > 2 && base.substr(0, 2) == "0x" && ParseHex(base.substr(2), &value)) {
    frame.address = value;
    return;
  }
  size_t plus = base.rfind("+0x");
  if (plus != std::string_view::npos && plus > 0 && ParseHex(base.substr(plus + 3), &value)) {
    frame.module = std::string(base.substr(0, plus));
    frame.module_offset = value;
    return;
  }
  frame.function = std::string(base);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string SanitizeFoldedName(std::string_view name) {
  if (name.empty()) return std::string(kUnknownName);
  std::string out(name);
  for (char& c : out) {
    if (c == ';') {
      c = ':';
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  return out;
}

std::string FoldedWriter::StackLine(const StackSample& sample) {
  std::string line = SanitizeFoldedName(sample.process);
  if (sample.truncated) {
    line += ';';
    line += kTruncatedFrame;
  }
  for (const Frame& frame : sample.frames) {
    line += ';';
    line += SanitizeFoldedName(FrameLabel(frame));
  }
  return line;
}

Status FoldedWriter::Write(const Profile& profile, std::ostream& out) {
  // Different pids of one process, or frames that differ only in address/build id, fold into the
  // same line; aggregate so every line is unique as consumers expect.
  std::map<std::string, uint64_t> lines;
  for (const StackSample& s : profile.samples) {
    if (s.value == 0) continue;
    uint64_t& v = lines[StackLine(s)];
    uint64_t sum = v + s.value;
    v = sum < v ? UINT64_MAX : sum;
  }
  for (const auto& [stack, value] : lines) out << stack << ' ' << value << '\n';
  out.flush();
  if (!out) return Error{"folded: write failed"};
  return Status::Ok();
}

std::string FoldedWriter::ToString(const Profile& profile) {
  std::ostringstream out;
  (void)Write(profile, out);  // a string stream does not fail
  return out.str();
}

Status FoldedWriter::WriteFile(const Profile& profile, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error{"folded: cannot open " + path + " for writing"};
  Status st = Write(profile, out);
  if (!st) return Error{st.message() + " (" + path + ")"};
  return st;
}

Frame FoldedReader::ParseFrame(std::string_view label) {
  Frame frame;
  frame.kind = FrameKind::kUser;
  if (label.substr(0, kGpuPrefix.size()) == kGpuPrefix) {
    frame.kind = FrameKind::kGpu;
    label.remove_prefix(kGpuPrefix.size());
  } else if (EndsWith(label, kKernelSuffix)) {
    frame.kind = FrameKind::kKernel;
    label.remove_suffix(kKernelSuffix.size());
  } else if (EndsWith(label, kJitSuffix)) {
    frame.kind = FrameKind::kJit;
    label.remove_suffix(kJitSuffix.size());
  }
  ParseBaseName(label, frame);
  return frame;
}

FoldedReadResult FoldedReader::Read(std::istream& in, ProfileType type) {
  FoldedReadResult result;
  result.profile.type = type;
  std::string line;
  size_t line_no = 0;
  auto bad = [&](const std::string& why) {
    ++result.bad_lines;
    if (result.errors.size() < FoldedReadResult::kMaxReportedErrors) {
      result.errors.push_back("line " + std::to_string(line_no) + ": " + why);
    }
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // tolerate CRLF files
    std::string_view text(line);
    size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;  // blank
    ++result.lines;
    size_t end = text.find_last_not_of(" \t");
    text = text.substr(0, end + 1);
    size_t space = text.find_last_of(" \t");
    if (space == std::string_view::npos) {
      bad("missing value");
      continue;
    }
    std::string_view value_text = text.substr(space + 1);
    std::string_view stack = text.substr(0, space);
    uint64_t value = 0;
    auto [ptr, ec] =
        std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
    if (ec != std::errc() || ptr != value_text.data() + value_text.size()) {
      bad("value is not a non-negative integer: '" + std::string(value_text) + "'");
      continue;
    }
    if (stack.empty()) {
      bad("empty stack");
      continue;
    }
    StackSample sample;
    sample.value = value;
    size_t pos = 0;
    size_t field = 0;
    bool ok = true;
    while (pos <= stack.size()) {
      size_t semi = stack.find(';', pos);
      if (semi == std::string_view::npos) semi = stack.size();
      std::string_view name = stack.substr(pos, semi - pos);
      if (name.empty()) {
        ok = false;
        break;
      }
      if (field == 0) {
        sample.process = std::string(name);
      } else if (field == 1 && name == kTruncatedFrame) {
        sample.truncated = true;
      } else {
        sample.frames.push_back(ParseFrame(name));
      }
      ++field;
      pos = semi + 1;
    }
    if (!ok) {
      bad("empty frame name");
      continue;
    }
    result.profile.samples.push_back(std::move(sample));
  }
  if (in.bad()) {
    result.ok = false;
    result.error = "folded: read error";
  }
  return result;
}

FoldedReadResult FoldedReader::ReadString(std::string_view text, ProfileType type) {
  std::istringstream in{std::string(text)};
  return Read(in, type);
}

FoldedReadResult FoldedReader::ReadFile(const std::string& path, ProfileType type) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    FoldedReadResult result;
    result.profile.type = type;
    result.ok = false;
    result.error = "folded: cannot open " + path;
    return result;
  }
  return Read(in, type);
}

}  // namespace zerotrace::flamegraph
