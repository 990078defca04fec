#pragma once

// A self-contained interactive SVG flamegraph: one file, no external scripts or fonts, opens in
// any browser. Click a frame to zoom into it, "Reset Zoom" to go back, type in the search box to
// highlight matching frames (regular expression, falls back to plain text) and see their share.

#include <iosfwd>
#include <string>

#include "flamegraph/profile.h"

namespace zerotrace::flamegraph {

struct SvgOptions {
  std::string title;  // default: "On-CPU Flame Graph" / "Off-CPU Flame Graph" / "GPU Flame Graph"
  std::string subtitle;   // default: derived from the profile (rate, duration, total)
  int width = 1200;       // px
  int frame_height = 16;  // px per stack level
  int font_size = 12;     // px
  // Frames narrower than this are not emitted at all; they are invisible anyway and dropping
  // them keeps SVGs of large profiles at a few MB instead of hundreds.
  double min_width_px = 0.1;
  // Levels deeper than this (the root "all" is level 0) are cut; their time stays in the deepest
  // shown frame. Real stacks are at most a few hundred frames deep; the cap bounds recursion on
  // hostile folded input.
  int max_depth = 1024;
};

class SvgFlamegraphWriter {
 public:
  // Out-of-range options (zero font, negative widths, NaN) are clamped to sane values.
  explicit SvgFlamegraphWriter(SvgOptions options = {});

  // Layout: root "all" at the bottom, then the process, then `[truncated]` for truncated stacks,
  // then frames root to leaf. Siblings are sorted by name (like flamegraph.pl), so output is
  // deterministic. Fails only on stream errors.
  Status Write(const Profile& profile, std::ostream& out) const;
  std::string ToString(const Profile& profile) const;
  Status WriteFile(const Profile& profile, const std::string& path) const;

 private:
  SvgOptions options_;
};

// Escapes text for XML content and attribute values. Also replaces what XML 1.0 cannot carry at
// all (control characters, invalid UTF-8) with '?', since symbol names are arbitrary bytes.
std::string XmlEscape(std::string_view text);

}  // namespace zerotrace::flamegraph
