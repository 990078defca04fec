#include "chrome/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <tuple>

namespace zerotrace::chrome {
namespace {

using nlohmann::json;

// Microseconds with nanosecond precision; doubles hold that exactly for CLOCK_MONOTONIC values
// (well below 2^53 ns).
double Us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

json ArgsJson(const Args& args) {
  json out = json::object();
  for (const auto& [k, v] : args) {
    std::visit([&](const auto& x) { out[k] = x; }, v);
  }
  return out;
}

// Events are sorted by reference and serialized one at a time, so a large trace never exists
// as one JSON document in memory (only the output text does).
enum class Source : uint8_t { kName, kSortIndex, kSlice, kFlowStart, kFlowEnd };

struct Ref {
  int64_t ts;
  uint8_t group;  // 0: metadata, 1: events
  uint8_t order;  // slices before flow ends at the same time
  Source source;
  size_t index;
};

json EventJson(const Trace& trace, const Ref& r) {
  switch (r.source) {
    case Source::kName:
    case Source::kSortIndex: {
      const TrackName& n = trace.names[r.index];
      json e = {{"ph", "M"}, {"pid", n.pid}, {"ts", 0}};
      const bool sort = r.source == Source::kSortIndex;
      if (n.is_process) {
        e["name"] = sort ? "process_sort_index" : "process_name";
      } else {
        e["name"] = sort ? "thread_sort_index" : "thread_name";
        e["tid"] = n.tid;
      }
      if (sort) {
        e["args"] = {{"sort_index", n.sort_index}};
      } else {
        e["args"] = {{"name", n.name}};
      }
      return e;
    }
    case Source::kSlice: {
      const Slice& s = trace.slices[r.index];
      json e = {{"ph", "X"},
                {"name", s.name},
                {"cat", s.category},
                {"pid", s.pid},
                {"tid", s.tid},
                {"ts", Us(s.start_ns)},
                {"dur", Us(std::max<int64_t>(s.duration_ns, 0))}};
      if (!s.args.empty()) e["args"] = ArgsJson(s.args);
      return e;
    }
    case Source::kFlowStart: {
      const Flow& f = trace.flows[r.index];
      return {{"ph", "s"},         {"id", f.id},        {"name", f.name},     {"cat", f.category},
              {"pid", f.from_pid}, {"tid", f.from_tid}, {"ts", Us(f.from_ns)}};
    }
    case Source::kFlowEnd: {
      const Flow& f = trace.flows[r.index];
      return {{"ph", "f"},         {"bp", "e"},       {"id", f.id},      {"name", f.name},
              {"cat", f.category}, {"pid", f.to_pid}, {"tid", f.to_tid}, {"ts", Us(f.to_ns)}};
    }
  }
  return json::object();
}

}  // namespace

std::string TraceWriter::ToJson(const Trace& trace) {
  std::vector<Ref> refs;
  refs.reserve(trace.names.size() * 2 + trace.slices.size() + trace.flows.size() * 2);
  for (size_t i = 0; i < trace.names.size(); i++) {
    refs.push_back({0, 0, 0, Source::kName, i});
    if (trace.names[i].sort_index != 0) refs.push_back({0, 0, 0, Source::kSortIndex, i});
  }
  for (size_t i = 0; i < trace.slices.size(); i++) {
    refs.push_back({trace.slices[i].start_ns, 1, 0, Source::kSlice, i});
  }
  for (size_t i = 0; i < trace.flows.size(); i++) {
    refs.push_back({trace.flows[i].from_ns, 1, 1, Source::kFlowStart, i});
    refs.push_back({trace.flows[i].to_ns, 1, 1, Source::kFlowEnd, i});
  }
  std::stable_sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
    return std::make_tuple(a.group, a.ts, a.order) < std::make_tuple(b.group, b.ts, b.order);
  });
  std::string out = "{\"traceEvents\":[";
  bool first = true;
  for (const Ref& r : refs) {
    if (!first) out += ',';
    first = false;
    out += EventJson(trace, r).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  json other = json::object();
  for (const auto& [k, v] : trace.metadata) other[k] = v;
  out += "],\"displayTimeUnit\":\"ns\",\"otherData\":";
  out += other.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '}';
  return out;
}

bool TraceWriter::Write(const Trace& trace, std::ostream& out) {
  out << ToJson(trace);
  return static_cast<bool>(out);
}

bool TraceWriter::WriteFile(const Trace& trace, const std::string& path, std::string* error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const bool written = out && Write(trace, out);
    out.close();  // a full disk shows at the final flush: never rename a truncated file in place
    if (!written || !out) {
      if (error) *error = tmp + ": " + std::strerror(errno);
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace zerotrace::chrome
