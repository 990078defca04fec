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

struct Keyed {
  int64_t ts;
  int order;  // metadata first, then slices before flow ends at the same time
  json event;
};

}  // namespace

std::string TraceWriter::ToJson(const Trace& trace) {
  std::vector<Keyed> events;
  events.reserve(trace.names.size() * 2 + trace.slices.size() + trace.flows.size() * 2);
  for (const auto& n : trace.names) {
    json e = {{"ph", "M"}, {"pid", n.pid}, {"ts", 0}};
    if (n.is_process) {
      e["name"] = "process_name";
    } else {
      e["name"] = "thread_name";
      e["tid"] = n.tid;
    }
    e["args"] = {{"name", n.name}};
    events.push_back({0, 0, std::move(e)});
    if (n.sort_index != 0) {
      json s = {{"ph", "M"}, {"pid", n.pid}, {"ts", 0}};
      if (n.is_process) {
        s["name"] = "process_sort_index";
      } else {
        s["name"] = "thread_sort_index";
        s["tid"] = n.tid;
      }
      s["args"] = {{"sort_index", n.sort_index}};
      events.push_back({0, 0, std::move(s)});
    }
  }
  for (const auto& s : trace.slices) {
    json e = {{"ph", "X"},
              {"name", s.name},
              {"cat", s.category},
              {"pid", s.pid},
              {"tid", s.tid},
              {"ts", Us(s.start_ns)},
              {"dur", Us(std::max<int64_t>(s.duration_ns, 0))}};
    if (!s.args.empty()) e["args"] = ArgsJson(s.args);
    events.push_back({s.start_ns, 1, std::move(e)});
  }
  for (const auto& f : trace.flows) {
    json s = {{"ph", "s"},         {"id", f.id},        {"name", f.name},     {"cat", f.category},
              {"pid", f.from_pid}, {"tid", f.from_tid}, {"ts", Us(f.from_ns)}};
    json t = {{"ph", "f"},         {"bp", "e"},       {"id", f.id},      {"name", f.name},
              {"cat", f.category}, {"pid", f.to_pid}, {"tid", f.to_tid}, {"ts", Us(f.to_ns)}};
    events.push_back({f.from_ns, 2, std::move(s)});
    events.push_back({f.to_ns, 2, std::move(t)});
  }
  std::stable_sort(events.begin(), events.end(), [](const Keyed& a, const Keyed& b) {
    return std::make_tuple(a.order != 0, a.ts, a.order) <
           std::make_tuple(b.order != 0, b.ts, b.order);
  });
  json root = json::object();
  json list = json::array();
  for (auto& k : events) list.push_back(std::move(k.event));
  root["traceEvents"] = std::move(list);
  root["displayTimeUnit"] = "ns";
  json other = json::object();
  for (const auto& [k, v] : trace.metadata) other[k] = v;
  root["otherData"] = std::move(other);
  return root.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool TraceWriter::Write(const Trace& trace, std::ostream& out) {
  out << ToJson(trace);
  return static_cast<bool>(out);
}

bool TraceWriter::WriteFile(const Trace& trace, const std::string& path, std::string* error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !Write(trace, out)) {
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
