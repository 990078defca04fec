#pragma once

// Chrome Trace Event Format (the JSON `chrome://tracing` and https://ui.perfetto.dev open):
// complete slices ("X") on (pid, tid) tracks, flow arrows ("s"/"f") between slices, and metadata
// ("M") naming processes and threads. Times are nanoseconds in the model and microseconds (with
// ns precision) in the file.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace zerotrace::chrome {

using ArgValue = std::variant<std::string, int64_t, uint64_t, double>;
using Args = std::map<std::string, ArgValue>;

struct Slice {
  std::string name;
  std::string category;
  uint32_t pid = 0;
  uint64_t tid = 0;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  Args args;
};

// An arrow from a point inside one slice to the start of another. The "s" end binds to the
// slice enclosing (from_pid, from_tid, from_ns); the "f" end (binding point "e") to the slice
// enclosing (to_pid, to_tid, to_ns), so `to_ns` should be the target slice's start.
struct Flow {
  uint64_t id = 0;  // unique per arrow within the trace
  std::string name;
  std::string category;
  uint32_t from_pid = 0;
  uint64_t from_tid = 0;
  int64_t from_ns = 0;
  uint32_t to_pid = 0;
  uint64_t to_tid = 0;
  int64_t to_ns = 0;
};

struct TrackName {
  uint32_t pid = 0;
  uint64_t tid = 0;  // ignored for process names
  bool is_process = false;
  std::string name;
  int64_t sort_index = 0;  // thread/process ordering in the UI; 0 = leave to the viewer
};

struct Trace {
  std::vector<TrackName> names;
  std::vector<Slice> slices;
  std::vector<Flow> flows;
  // Written as top-level "otherData" (e.g. the tool, the time window).
  std::map<std::string, std::string> metadata;
};

// Serializes a trace: {"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}. Events
// are sorted by time so viewers that assume order are happy. Always valid JSON (names are
// escaped, invalid UTF-8 replaced).
class TraceWriter {
 public:
  static std::string ToJson(const Trace& trace);
  static bool Write(const Trace& trace, std::ostream& out);
  // Writes via a temporary file and rename; false with `error` set on failure.
  static bool WriteFile(const Trace& trace, const std::string& path, std::string* error);
};

}  // namespace zerotrace::chrome
