#include "flamegraph/svg.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <tuple>
#include <utility>

#include "core/utf8.h"
#include "flamegraph/folded.h"

namespace zerotrace::flamegraph {
namespace {

// What a box in the graph stands for; decides its colour palette.
enum class Role : uint8_t { kRoot, kProcess, kTruncated, kFrame };

// The merged call tree the graph is drawn from. Children are keyed by (name, kind, role) in a
// std::map so sibling order is alphabetical and stable.
struct Node {
  std::string name;
  FrameKind kind = FrameKind::kUnknown;
  Role role = Role::kFrame;
  uint64_t value = 0;
  std::map<std::tuple<std::string, FrameKind, Role>, std::unique_ptr<Node>> children;

  Node* Child(const std::string& child_name, FrameKind child_kind, Role child_role) {
    auto& slot = children[std::make_tuple(child_name, child_kind, child_role)];
    if (!slot) {
      slot = std::make_unique<Node>();
      slot->name = child_name;
      slot->kind = child_kind;
      slot->role = child_role;
    }
    return slot.get();
  }
};

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s < a ? UINT64_MAX : s;
}

std::unique_ptr<Node> BuildTree(const Profile& profile, int max_depth) {
  auto root = std::make_unique<Node>();
  root->name = "all";
  root->role = Role::kRoot;
  for (const StackSample& s : profile.samples) {
    if (s.value == 0) continue;
    root->value = SatAdd(root->value, s.value);
    Node* node = root->Child(s.process.empty() ? "[unknown]" : s.process, FrameKind::kUnknown,
                             Role::kProcess);
    node->value = SatAdd(node->value, s.value);
    if (s.truncated) {
      node = node->Child(std::string(kTruncatedFrame), FrameKind::kUnknown, Role::kTruncated);
      node->value = SatAdd(node->value, s.value);
    }
    // Depth counts from the root "all" (0); process and [truncated] use levels too.
    int depth = s.truncated ? 2 : 1;
    for (const Frame& f : s.frames) {
      if (++depth > max_depth) break;
      node = node->Child(FrameLabel(f), f.kind, Role::kFrame);
      node->value = SatAdd(node->value, s.value);
    }
  }
  return root;
}

int TreeDepth(const Node& node) {
  int depth = 0;
  for (const auto& [key, child] : node.children) depth = std::max(depth, 1 + TreeDepth(*child));
  return depth;
}

std::string WithThousands(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out += digits[i];
    int left = n - 1 - i;
    if (left > 0 && left % 3 == 0) out += ',';
  }
  return out;
}

std::string FormatDuration(double ns) {
  char buf[48];
  if (ns >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2f s", ns / 1e9);
  } else if (ns >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  } else if (ns >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.2f us", ns / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  }
  return buf;
}

std::string FormatValue(const Profile& profile, uint64_t value) {
  if (profile.type == ProfileType::kOnCpu) {
    return WithThousands(value) + (value == 1 ? " sample" : " samples");
  }
  return FormatDuration(static_cast<double>(value));
}

std::string Percent(uint64_t part, uint64_t whole) {
  char buf[32];
  double pct = whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  std::snprintf(buf, sizeof(buf), "%.2f%%", pct);
  return buf;
}

std::string Fixed(double v, int decimals = 1) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// FNV-1a: a stable per-name hash so a function keeps its colour across profiles.
uint32_t NameHash(std::string_view name) {
  uint32_t h = 2166136261u;
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Palettes (documented in docs/flamegraphs.md): user = warm red/yellow, kernel = blue,
// JIT = green, GPU = purple, process/root/truncated = greys. Within a palette the shade varies by
// name so neighbours are distinguishable.
std::string FrameColour(const Node& node) {
  uint32_t h = NameHash(node.name);
  double v1 = static_cast<double>(h & 0xff) / 255.0;
  double v2 = static_cast<double>((h >> 8) & 0xff) / 255.0;
  double v3 = static_cast<double>((h >> 16) & 0xff) / 255.0;
  int r = 0, g = 0, b = 0;
  switch (node.role) {
    case Role::kRoot:
      r = g = b = 200;
      break;
    case Role::kProcess:
      r = 160 + static_cast<int>(30 * v1);
      g = r;
      b = r + 20;
      break;
    case Role::kTruncated:
      r = 235, g = 190, b = 190;
      break;
    case Role::kFrame:
      switch (node.kind) {
        case FrameKind::kUser:
          r = 205 + static_cast<int>(50 * v3);
          g = static_cast<int>(230 * v1);
          b = static_cast<int>(55 * v2);
          break;
        case FrameKind::kKernel:
          r = 60 + static_cast<int>(60 * v1);
          g = 130 + static_cast<int>(70 * v2);
          b = 210 + static_cast<int>(45 * v3);
          break;
        case FrameKind::kJit:
          r = 50 + static_cast<int>(60 * v1);
          g = 170 + static_cast<int>(70 * v2);
          b = 50 + static_cast<int>(60 * v3);
          break;
        case FrameKind::kGpu:
          r = 150 + static_cast<int>(60 * v1);
          g = 70 + static_cast<int>(50 * v2);
          b = 200 + static_cast<int>(55 * v3);
          break;
        case FrameKind::kUnknown:
          r = 190 + static_cast<int>(30 * v1);
          g = 190 + static_cast<int>(30 * v1);
          b = 140 + static_cast<int>(30 * v2);
          break;
      }
      break;
  }
  return "rgb(" + std::to_string(r) + "," + std::to_string(g) + "," + std::to_string(b) + ")";
}

// Fits a label into `width_px` of monospace text, eliding with "..", as the script does on zoom.
std::string FitLabel(const std::string& name, double width_px, int font_size) {
  double char_w = font_size * 0.6;
  int chars = static_cast<int>((width_px - 6) / char_w);
  if (chars < 3) return "";
  if (static_cast<int>(name.size()) <= chars) return name;
  // Cut on a UTF-8 boundary so the escaped text stays valid.
  size_t cut = static_cast<size_t>(chars - 2);
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  return name.substr(0, cut) + "..";
}

std::string DefaultTitle(ProfileType type) {
  switch (type) {
    case ProfileType::kOnCpu:
      return "On-CPU Flame Graph";
    case ProfileType::kOffCpu:
      return "Off-CPU Flame Graph";
    case ProfileType::kGpu:
      return "GPU Flame Graph";
  }
  return "Flame Graph";
}

std::string DefaultSubtitle(const Profile& profile, uint64_t total) {
  std::string sub;
  if (profile.type == ProfileType::kOnCpu) {
    sub = WithThousands(total) + " samples";
    if (profile.period_ns != 0) {
      sub += " at " + Fixed(1e9 / static_cast<double>(profile.period_ns), 0) + " Hz (" +
             FormatDuration(static_cast<double>(total) * static_cast<double>(profile.period_ns)) +
             " CPU)";
    }
  } else if (profile.type == ProfileType::kOffCpu) {
    sub = FormatDuration(static_cast<double>(total)) + " off-CPU";
  } else {
    sub = FormatDuration(static_cast<double>(total)) + " GPU time";
  }
  if (profile.duration_ns > 0) {
    sub += ", collected over " + FormatDuration(static_cast<double>(profile.duration_ns));
  }
  return sub;
}

// Own implementation (not derived from flamegraph.pl). Frames carry their position in value
// units (data-s start, data-v width, data-d depth), so zoom and search are exact regardless of
// the pixel rounding of the initial layout.
constexpr const char* kScript = R"JS(
"use strict";
(function () {
  var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  var details = document.getElementById("zt-details");
  var matched = document.getElementById("zt-matched");
  var reset = document.getElementById("zt-reset");
  var box = document.getElementById("zt-search");
  var usable = ZT.width - 2 * ZT.xpad;
  function num(g, a) { return parseFloat(g.getAttribute(a)); }
  function label(name, w) {
    var chars = Math.floor((w - 6) / (ZT.font * 0.6));
    if (chars < 3) return "";
    return name.length <= chars ? name : name.substring(0, chars - 2) + "..";
  }
  frames.forEach(function (g) {
    var t = g.querySelector("title").textContent;
    var cut = t.lastIndexOf(" (");
    g.ztName = cut > 0 ? t.substring(0, cut) : t;
    g.ztInfo = t;
    g.ztS = num(g, "data-s"); g.ztV = num(g, "data-v"); g.ztD = num(g, "data-d");
    g.addEventListener("click", function () { zoom(g.ztS, g.ztV, g.ztD); reset.style.opacity = "1"; });
    g.addEventListener("mouseover", function () { details.textContent = g.ztInfo; });
    g.addEventListener("mouseout", function () { details.textContent = " "; });
  });
  function place(g, x, w) {
    var r = g.querySelector("rect"), t = g.querySelector("text");
    r.setAttribute("x", (ZT.xpad + x).toFixed(2));
    r.setAttribute("width", Math.max(w, 0).toFixed(2));
    t.setAttribute("x", (ZT.xpad + x + 3).toFixed(2));
    t.textContent = label(g.ztName, w);
  }
  function zoom(s0, v0, d0) {
    var scale = usable / v0;
    frames.forEach(function (g) {
      var s = g.ztS, v = g.ztV, d = g.ztD;
      var hide = true;
      g.classList.remove("zt-parent");
      if (d < d0) {
        if (s <= s0 && s + v >= s0 + v0) { place(g, 0, usable); g.classList.add("zt-parent"); hide = false; }
      } else if (s >= s0 && s + v <= s0 + v0) {
        var w = v * scale;
        if (w >= ZT.minw) { place(g, (s - s0) * scale, w); hide = false; }
      }
      g.style.display = hide ? "none" : "";
    });
  }
  reset.addEventListener("click", function () {
    zoom(0, ZT.total, 0);
    reset.style.opacity = "0.3";
  });
  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function search(term) {
    var re = null;
    if (term) { try { re = new RegExp(term); } catch (e) { re = new RegExp(escapeRe(term)); } }
    var hits = [];
    frames.forEach(function (g) {
      var r = g.querySelector("rect");
      if (r.ztFill === undefined) r.ztFill = r.getAttribute("fill");
      if (re && re.test(g.ztName)) {
        r.setAttribute("fill", ZT.highlight);
        hits.push([g.ztS, g.ztS + g.ztV]);
      } else {
        r.setAttribute("fill", r.ztFill);
      }
    });
    if (!re) { matched.textContent = " "; return; }
    // Nested matches (recursion, caller and callee both matching) must count once: merge ranges.
    hits.sort(function (a, b) { return a[0] - b[0]; });
    var sum = 0, end = -1;
    hits.forEach(function (h) {
      if (h[0] >= end) { sum += h[1] - h[0]; end = h[1]; }
      else if (h[1] > end) { sum += h[1] - end; end = h[1]; }
    });
    var pct = ZT.total > 0 ? (100 * sum / ZT.total) : 0;
    matched.textContent = "Matched: " + pct.toFixed(2) + "%";
  }
  if (box) {
    box.addEventListener("input", function () { search(box.value); });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { box.value = ""; search(""); }
    });
  }
  document.getElementById("zt-search-btn").addEventListener("click", function () {
    var term = window.prompt("Search (regular expression)", box ? box.value : "");
    if (term === null) return;
    if (box) box.value = term;
    search(term);
  });
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f" && box) { e.preventDefault(); box.focus(); }
  });
})();
)JS";

constexpr const char* kStyle = R"CSS(
text { font-family: monospace; fill: #000; }
.f text { pointer-events: none; }
.f rect { stroke: rgb(255,255,255); stroke-width: 0.5; }
.f:hover rect { stroke: #000; stroke-width: 1; cursor: pointer; }
.zt-parent rect { opacity: 0.5; }
.zt-button { cursor: pointer; fill: #333; text-decoration: underline; }
#zt-title { font-size: 17px; font-weight: bold; }
#zt-subtitle { font-size: 12px; fill: #555; }
)CSS";

class SvgEmitter {
 public:
  SvgEmitter(const SvgOptions& opts, const Profile& profile, std::ostream& out)
      : opts_(opts), profile_(profile), out_(out) {}

  void Emit() {
    std::unique_ptr<Node> root = BuildTree(profile_, opts_.max_depth);
    total_ = root->value;
    const int xpad = 10;
    const int top = 70;     // title, subtitle, controls
    const int bottom = 30;  // details and matched line
    const int width = opts_.width;
    const int fh = opts_.frame_height;
    const int depth = total_ == 0 ? 0 : TreeDepth(*root) + 1;
    const int height = top + depth * fh + bottom;
    usable_ = width - 2 * xpad;
    xpad_ = xpad;
    fh_ = fh;
    base_y_ = top + depth * fh;  // bottom edge of the root frame
    scale_ = total_ == 0 ? 0.0 : usable_ / static_cast<double>(total_);

    const std::string title = opts_.title.empty() ? DefaultTitle(profile_.type) : opts_.title;
    const std::string subtitle =
        opts_.subtitle.empty() ? DefaultSubtitle(profile_, total_) : opts_.subtitle;

    out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
         << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << width
         << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' ' << height << "\">\n"
         << "<style type=\"text/css\"><![CDATA[" << kStyle
         << ".f text { font-size: " << opts_.font_size << "px; }\n]]></style>\n"
         << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height
         << "\" fill=\"rgb(250,250,245)\"/>\n"
         << "<text id=\"zt-title\" x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\">"
         << XmlEscape(title) << "</text>\n"
         << "<text id=\"zt-subtitle\" x=\"" << width / 2 << "\" y=\"42\" text-anchor=\"middle\">"
         << XmlEscape(subtitle) << "</text>\n"
         << "<text id=\"zt-reset\" class=\"zt-button\" x=\"" << xpad
         << "\" y=\"24\" font-size=\"12\" style=\"opacity:0.3\">Reset Zoom</text>\n"
         << "<text id=\"zt-search-btn\" class=\"zt-button\" x=\"" << width - xpad - 230
         << "\" y=\"24\" font-size=\"12\" text-anchor=\"end\">Search</text>\n"
         << "<foreignObject x=\"" << width - xpad - 224 << "\" y=\"8\" width=\"224\" height=\"24\">"
         << "<input xmlns=\"http://www.w3.org/1999/xhtml\" id=\"zt-search\" type=\"search\" "
            "placeholder=\"search (regex)\" style=\"width:210px;font:12px monospace\"/>"
         << "</foreignObject>\n";
    EmitLegend(xpad, 60);
    if (total_ == 0) {
      out_ << "<text x=\"" << width / 2 << "\" y=\"" << top + 10
           << "\" text-anchor=\"middle\">No samples</text>\n";
    } else {
      out_ << "<g id=\"zt-frames\">\n";
      EmitNode(*root, 0, 0);
      out_ << "</g>\n";
    }
    out_ << "<text id=\"zt-details\" x=\"" << xpad << "\" y=\"" << height - 10
         << "\" font-size=\"12\"> </text>\n"
         << "<text id=\"zt-matched\" x=\"" << width - xpad << "\" y=\"" << height - 10
         << "\" font-size=\"12\" text-anchor=\"end\"> </text>\n"
         << "<script type=\"text/ecmascript\"><![CDATA[\nvar ZT = {width: " << width
         << ", xpad: " << xpad << ", font: " << opts_.font_size << ", total: " << total_
         << ", minw: " << opts_.min_width_px << ", highlight: \"rgb(230,0,230)\"};" << kScript
         << "]]></script>\n"
         << "</svg>\n";
  }

 private:
  void EmitLegend(int x, int y) {
    struct Entry {
      const char* label;
      FrameKind kind;
    };
    static constexpr Entry kEntries[] = {{"user", FrameKind::kUser},
                                         {"kernel", FrameKind::kKernel},
                                         {"JIT", FrameKind::kJit},
                                         {"GPU", FrameKind::kGpu}};
    for (const Entry& e : kEntries) {
      Node sample;
      sample.name = e.label;
      sample.kind = e.kind;
      out_ << "<rect x=\"" << x << "\" y=\"" << y - 9 << "\" width=\"10\" height=\"10\" fill=\""
           << FrameColour(sample) << "\"/><text x=\"" << x + 14 << "\" y=\"" << y
           << "\" font-size=\"11\">" << e.label << "</text>\n";
      x += 70;
    }
  }

  void EmitNode(const Node& node, uint64_t start, int depth) {
    double w = static_cast<double>(node.value) * scale_;
    if (w < opts_.min_width_px) return;  // children are narrower still
    double x = xpad_ + static_cast<double>(start) * scale_;
    int y = base_y_ - (depth + 1) * fh_;
    std::string info = node.name + " (" + FormatValue(profile_, node.value) + ", " +
                       Percent(node.value, total_) + ")";
    out_ << "<g class=\"f\" data-s=\"" << start << "\" data-v=\"" << node.value << "\" data-d=\""
         << depth << "\"><title>" << XmlEscape(info) << "</title><rect x=\"" << Fixed(x, 2)
         << "\" y=\"" << y << "\" width=\"" << Fixed(w, 2) << "\" height=\"" << fh_ - 1
         << "\" fill=\"" << FrameColour(node) << "\"/><text x=\"" << Fixed(x + 3, 2) << "\" y=\""
         << y + fh_ - 4 << "\">" << XmlEscape(FitLabel(node.name, w, opts_.font_size))
         << "</text></g>\n";
    uint64_t child_start = start;
    for (const auto& [key, child] : node.children) {
      EmitNode(*child, child_start, depth + 1);
      child_start += child->value;
    }
  }

  const SvgOptions& opts_;
  const Profile& profile_;
  std::ostream& out_;
  uint64_t total_ = 0;
  double usable_ = 0;
  double scale_ = 0;
  int xpad_ = 0;
  int fh_ = 0;
  int base_y_ = 0;
};

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&apos;";
          break;
        case '\t':
        case '\n':
        case '\r':
          out += ' ';
          break;
        default:
          out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // XML 1.0 cannot carry U+FFFE/U+FFFF either; everything else valid passes through.
    size_t len = Utf8SequenceLength(text, i);
    bool valid = len != 0 && !(len == 3 && text.substr(i, 3) == "\xef\xbf\xbe") &&
                 !(len == 3 && text.substr(i, 3) == "\xef\xbf\xbf");
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

SvgFlamegraphWriter::SvgFlamegraphWriter(SvgOptions options) : options_(std::move(options)) {
  options_.width = std::clamp(options_.width, 200, 100000);
  options_.frame_height = std::clamp(options_.frame_height, 4, 200);
  options_.font_size = std::clamp(options_.font_size, 4, 72);
  options_.max_depth = std::clamp(options_.max_depth, 2, 4096);  // bounds recursion
  if (!(options_.min_width_px >= 0.0 && options_.min_width_px <= 1000.0)) {
    options_.min_width_px = 0.1;  // also catches NaN
  }
}

Status SvgFlamegraphWriter::Write(const Profile& profile, std::ostream& out) const {
  SvgEmitter(options_, profile, out).Emit();
  out.flush();
  if (!out) return Error{"svg: write failed"};
  return Status::Ok();
}

std::string SvgFlamegraphWriter::ToString(const Profile& profile) const {
  std::ostringstream out;
  (void)Write(profile, out);  // a string stream does not fail
  return out.str();
}

Status SvgFlamegraphWriter::WriteFile(const Profile& profile, const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error{"svg: cannot open " + path + " for writing"};
  Status st = Write(profile, out);
  if (!st) return Error{st.message() + " (" + path + ")"};
  return st;
}

}  // namespace zerotrace::flamegraph
