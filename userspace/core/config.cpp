#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/split.h"

namespace zerotrace {
namespace {

// Walks a YAML mapping, handing each known key to its reader and rejecting the rest.
class YamlReader {
 public:
  explicit YamlReader(std::string origin) : origin_(std::move(origin)) {}

  Status Fail(const std::string& key, const std::string& why) const {
    return Error{"config " + origin_ + ": key '" + key + "': " + why};
  }

  Status CheckKeys(const YAML::Node& node, const std::string& prefix,
                   const std::set<std::string>& allowed) const {
    if (!node.IsMap()) return Fail(prefix.empty() ? "<top>" : prefix, "expected a mapping");
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        return Fail(prefix.empty() ? "<top>" : prefix,
                    "keys must be plain names, not lists or mappings");
      }
      const auto key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        std::string choices;
        for (const auto& a : allowed) choices += (choices.empty() ? "" : ", ") + a;
        return Fail(prefix.empty() ? key : prefix + "." + key,
                    "unknown key (expected one of: " + choices + ")");
      }
    }
    return Status::Ok();
  }

  Status String(const YAML::Node& node, const std::string& key, std::string* out) const {
    if (!node.IsScalar()) return Fail(key, "expected a string");
    *out = node.as<std::string>();
    return Status::Ok();
  }

  Status Bool(const YAML::Node& node, const std::string& key, bool* out) const {
    bool v;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) {
      return Fail(key, "expected true or false, got '" + Scalar(node) + "'");
    }
    *out = v;
    return Status::Ok();
  }

  Status Uint(const YAML::Node& node, const std::string& key, uint32_t* out) const {
    uint32_t v;
    if (!node.IsScalar() || !YAML::convert<uint32_t>::decode(node, v)) {
      return Fail(key, "expected a non-negative integer, got '" + Scalar(node) + "'");
    }
    *out = v;
    return Status::Ok();
  }

  // A number in [0, 1]; the narrower bounds of each key are checked by Validate.
  Status Ratio(const YAML::Node& node, const std::string& key, double* out) const {
    double v;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, v)) {
      return Fail(key, "expected a number between 0 and 1, got '" + Scalar(node) + "'");
    }
    *out = v;
    return Status::Ok();
  }

  Status Duration(const YAML::Node& node, const std::string& key,
                  std::chrono::milliseconds* out) const {
    if (!node.IsScalar()) return Fail(key, "expected a duration like 2s");
    auto d = ParseDuration(node.as<std::string>());
    if (!d) return Fail(key, d.error().message);
    *out = *d;
    return Status::Ok();
  }

  template <typename T>
  Status List(const YAML::Node& node, const std::string& key, std::vector<T>* out) const {
    if (!node.IsSequence()) return Fail(key, "expected a list");
    out->clear();
    for (const auto& item : node) {
      T v;
      if (!item.IsScalar() || !YAML::convert<T>::decode(item, v)) {
        return Fail(key, "bad list element '" + Scalar(item) + "'");
      }
      out->push_back(v);
    }
    return Status::Ok();
  }

 private:
  static std::string Scalar(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : "<node>"; }
  std::string origin_;
};

Status ApplyOtlp(const YAML::Node& v, const YamlReader& r, OtlpConfig* o) {
  Status s = r.CheckKeys(
      v, "otlp",
      {"endpoint", "traces_endpoint", "headers", "compression", "protocol", "sampling_ratio",
       "keep_errors", "keep_slower_than", "propagate_traceparent", "propagate_cgroup"});
  if (!s) return s;
  if (v["endpoint"] && !(s = r.String(v["endpoint"], "otlp.endpoint", &o->endpoint))) return s;
  if (v["traces_endpoint"] &&
      !(s = r.String(v["traces_endpoint"], "otlp.traces_endpoint", &o->traces_endpoint))) {
    return s;
  }
  if (v["headers"]) {
    if (!v["headers"].IsMap()) return r.Fail("otlp.headers", "expected a mapping of name: value");
    for (const auto& kv : v["headers"]) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
        return r.Fail("otlp.headers", "expected a mapping of name: value (plain strings)");
      }
      o->headers[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  if (v["compression"] && !(s = r.String(v["compression"], "otlp.compression", &o->compression))) {
    return s;
  }
  if (v["protocol"] && !(s = r.String(v["protocol"], "otlp.protocol", &o->protocol))) return s;
  if (v["sampling_ratio"] &&
      !(s = r.Ratio(v["sampling_ratio"], "otlp.sampling_ratio", &o->sampling_ratio))) {
    return s;
  }
  if (v["keep_errors"] && !(s = r.Bool(v["keep_errors"], "otlp.keep_errors", &o->keep_errors))) {
    return s;
  }
  if (v["keep_slower_than"] &&
      !(s = r.Duration(v["keep_slower_than"], "otlp.keep_slower_than", &o->keep_slower_than))) {
    return s;
  }
  if (v["propagate_traceparent"] &&
      !(s = r.Bool(v["propagate_traceparent"], "otlp.propagate_traceparent",
                   &o->propagate_traceparent))) {
    return s;
  }
  if (v["propagate_cgroup"]) {
    s = r.String(v["propagate_cgroup"], "otlp.propagate_cgroup", &o->propagate_cgroup);
  }
  return s;
}

Status ApplyYaml(const YAML::Node& root, const YamlReader& r, Config* c) {
  if (root.IsNull()) return Status::Ok();  // an empty file is a valid "all defaults" config
  if (auto s = r.CheckKeys(root, "",
                           {"listen", "log_level", "log_format", "interval", "proc_root",
                            "bpf_stats", "select", "probes", "otlp", "unwind"});
      !s) {
    return s;
  }
  for (const auto& kv : root) {
    const auto key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    Status s;
    if (key == "listen") {
      s = r.String(v, key, &c->listen);
    } else if (key == "log_level") {
      s = r.String(v, key, &c->log_level);
    } else if (key == "log_format") {
      s = r.String(v, key, &c->log_format);
    } else if (key == "interval") {
      s = r.Duration(v, key, &c->interval);
    } else if (key == "proc_root") {
      s = r.String(v, key, &c->proc_root);
    } else if (key == "bpf_stats") {
      s = r.Bool(v, key, &c->bpf_stats);
    } else if (key == "otlp") {
      s = ApplyOtlp(v, r, &c->otlp);
    } else if (key == "unwind") {
      if (!(s = r.CheckKeys(v, "unwind", {"method", "max_rows"}))) return s;
      if (v["method"] &&
          !(s = r.String(v["method"], "unwind.method", &c->profiling.unwind_method))) {
        return s;
      }
      if (v["max_rows"])
        s = r.Uint(v["max_rows"], "unwind.max_rows", &c->profiling.unwind_max_rows);
    } else if (key == "select") {
      if (!(s = r.CheckKeys(v, "select", {"pids", "comms"}))) return s;
      if (v["pids"] && !(s = r.List(v["pids"], "select.pids", &c->select.pids))) return s;
      if (v["comms"]) s = r.List(v["comms"], "select.comms", &c->select.comms);
    } else if (key == "probes") {
      std::set<std::string> names;
      for (const auto& n : ProbeToggleNames()) names.insert(n.name);
      if (!(s = r.CheckKeys(v, "probes", names))) return s;
      for (auto [name, flag] :
           {std::pair<const char*, bool*>{"cuda", &c->probes.cuda}, {"cupti", &c->probes.cupti}}) {
        if (!v[name]) continue;
        const std::string prefix = std::string("probes.") + name;
        if (!(s = r.CheckKeys(v[name], prefix, {"enabled"}))) return s;
        if (v[name]["enabled"] && !(s = r.Bool(v[name]["enabled"], prefix + ".enabled", flag))) {
          return s;
        }
      }
      if (v["oncpu"]) {
        const auto& p = v["oncpu"];
        if (!(s = r.CheckKeys(p, "probes.oncpu", {"enabled", "frequency_hz"}))) return s;
        if (p["enabled"] && !(s = r.Bool(p["enabled"], "probes.oncpu.enabled", &c->probes.oncpu))) {
          return s;
        }
        if (p["frequency_hz"] && !(s = r.Uint(p["frequency_hz"], "probes.oncpu.frequency_hz",
                                              &c->profiling.oncpu_frequency_hz))) {
          return s;
        }
      }
      if (v["offcpu"]) {
        const auto& p = v["offcpu"];
        if (!(s = r.CheckKeys(p, "probes.offcpu",
                              {"enabled", "min_block", "max_block", "state", "sample_ratio"}))) {
          return s;
        }
        if (p["enabled"] &&
            !(s = r.Bool(p["enabled"], "probes.offcpu.enabled", &c->probes.offcpu))) {
          return s;
        }
        std::chrono::milliseconds ms{};
        for (const char* k : {"min_block", "max_block"}) {
          if (!p[k]) continue;
          // Sub-millisecond values are common here ("1us"); ParseDuration handles ms and up, so
          // accept "<n>us" explicitly.
          if (!p[k].IsScalar()) {
            return r.Fail(std::string("probes.offcpu.") + k,
                          "expected a duration like 1ms or 500us");
          }
          const std::string text = p[k].as<std::string>();
          auto& out = std::string(k) == "min_block" ? c->profiling.offcpu_min_block
                                                    : c->profiling.offcpu_max_block;
          if (text.size() > 2 && text.compare(text.size() - 2, 2, "us") == 0) {
            uint64_t us = 0;
            const char* first = text.data();
            const char* last = text.data() + text.size() - 2;
            auto [end, ec] = std::from_chars(first, last, us);  // digits only: no sign, no space
            if (ec != std::errc() || end != last) {
              return r.Fail(std::string("probes.offcpu.") + k, "bad duration '" + text + "'");
            }
            out = std::chrono::microseconds(us);
          } else {
            if (!(s = r.Duration(p[k], std::string("probes.offcpu.") + k, &ms))) return s;
            out = std::chrono::duration_cast<std::chrono::microseconds>(ms);
          }
        }
        if (p["state"] &&
            !(s = r.String(p["state"], "probes.offcpu.state", &c->profiling.offcpu_state))) {
          return s;
        }
        if (p["sample_ratio"] && !(s = r.Ratio(p["sample_ratio"], "probes.offcpu.sample_ratio",
                                               &c->profiling.offcpu_sample_ratio))) {
          return s;
        }
      }
      if (v["tls"]) {
        const auto& p = v["tls"];
        if (!(s = r.CheckKeys(p, "probes.tls", {"enabled"}))) return s;
        if (p["enabled"] && !(s = r.Bool(p["enabled"], "probes.tls.enabled", &c->probes.tls))) {
          return s;
        }
      }
      if (v["syscalls"]) {
        const auto& p = v["syscalls"];
        if (!(s = r.CheckKeys(p, "probes.syscalls", {"enabled"}))) return s;
        if (p["enabled"]) s = r.Bool(p["enabled"], "probes.syscalls.enabled", &c->probes.syscalls);
      }
      if (!s) return s;
      if (v["sockets"]) {
        const auto& p = v["sockets"];
        if (!(s = r.CheckKeys(p, "probes.sockets",
                              {"enabled", "capture_bytes", "max_routes_per_service"}))) {
          return s;
        }
        if (p["enabled"] &&
            !(s = r.Bool(p["enabled"], "probes.sockets.enabled", &c->probes.sockets))) {
          return s;
        }
        if (p["capture_bytes"] && !(s = r.Uint(p["capture_bytes"], "probes.sockets.capture_bytes",
                                               &c->sockets.capture_bytes))) {
          return s;
        }
        if (p["max_routes_per_service"]) {
          s = r.Uint(p["max_routes_per_service"], "probes.sockets.max_routes_per_service",
                     &c->sockets.max_routes_per_service);
        }
      }
    }
    if (!s) return s;
  }
  return Status::Ok();
}

}  // namespace

const std::vector<ProbeToggleName>& ProbeToggleNames() {
  static const std::vector<ProbeToggleName> names = {
      {"syscalls", &ProbeToggles::syscalls}, {"sockets", &ProbeToggles::sockets},
      {"tls", &ProbeToggles::tls},           {"oncpu", &ProbeToggles::oncpu},
      {"offcpu", &ProbeToggles::offcpu},     {"cuda", &ProbeToggles::cuda},
      {"cupti", &ProbeToggles::cupti}};
  return names;
}

Result<ProbeToggles> ParseProbeList(const std::string& list) {
  ProbeToggles t;
  for (const auto& n : ProbeToggleNames()) t.*n.toggle = false;
  for (const std::string& name : SplitList(list)) {
    auto it = std::find_if(ProbeToggleNames().begin(), ProbeToggleNames().end(),
                           [&](const ProbeToggleName& n) { return name == n.name; });
    if (it == ProbeToggleNames().end()) {
      std::string available;
      for (const auto& n : ProbeToggleNames()) {
        available += (available.empty() ? "" : ", ") + std::string(n.name);
      }
      return Error{"--probes: unknown probe '" + name + "' (available: " + available + ")"};
    }
    t.*it->toggle = true;
  }
  if (t.tls) t.sockets = true;  // TLS plaintext flows through the sockets pipeline
  return t;
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || value < 0) {
    return Error{"'" + text + "' is not a duration (examples: 500ms, 30s, 2m)"};
  }
  const std::string unit(ptr, end);
  double ms;
  if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m") {
    ms = value * 60000;
  } else if (unit == "h") {
    ms = value * 3600000;
  } else {
    return Error{"'" + text + "' has unknown unit '" + unit + "' (use ms, s, m or h)"};
  }
  // Converting a value past int64 (or inf / nan, which from_chars accepts) is undefined
  // behaviour; found by fuzzing (tests/unit/parsers_fuzz/corpus/config/duration_1e66).
  if (!(ms < 9.2e18)) return Error{"'" + text + "' is not a duration (too long)"};
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return Error{"listen address '" + text + "' needs host:port"};
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return Error{"listen address '" + text + "' has a bad port '" + port + "'"};
  }
  a.port = static_cast<uint16_t>(value);
  return a;
}

Result<Config> LoadConfigText(const std::string& yaml, const std::string& origin, Config base) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Error{"config " + origin + ": not valid YAML at line " +
                 std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  YamlReader reader(origin);
  try {
    if (auto s = ApplyYaml(root, reader, &base); !s) return Error{s.message()};
  } catch (const YAML::Exception& e) {  // a conversion no check above foresaw
    return Error{"config " + origin + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  return base;
}

Result<Config> LoadConfigFile(const std::string& path, Config base) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(status)) {
    return Error{"config file '" + path +
                 "' is a directory (a mounted ConfigMap? name the file in it, e.g. " + path +
                 "/config.yaml)"};
  }
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    return Error{"config file '" + path + "' is not a regular file"};
  }
  std::ifstream in(path);
  if (!in) return Error{"config file '" + path + "' cannot be read (missing or no permission)"};
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error{"config file '" + path + "': read error"};
  return LoadConfigText(ss.str(), path, std::move(base));
}

Status Validate(const Config& c) {
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  if (!kLevels.count(c.log_level)) {
    return Error{"log_level '" + c.log_level + "' is not one of trace|debug|info|warn|error"};
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return Error{"log_format '" + c.log_format + "' is not one of text|json"};
  }
  if (auto a = ParseListenAddress(c.listen); !a) return a.error();
  if (c.interval.count() < 100) return Error{"interval must be at least 100ms"};
  for (const auto& comm : c.select.comms) {
    if (comm.empty() || comm.size() > 15) {
      return Error{"comm '" + comm + "' must be 1-15 characters (the kernel's task comm length)"};
    }
  }
  if (c.profiling.oncpu_frequency_hz < 19 || c.profiling.oncpu_frequency_hz > 999) {
    return Error{"probes.oncpu.frequency_hz must be between 19 and 999"};
  }
  static const std::set<std::string> kStates = {"any", "interruptible", "uninterruptible"};
  if (!kStates.count(c.profiling.offcpu_state)) {
    return Error{"probes.offcpu.state '" + c.profiling.offcpu_state +
                 "' is not one of any|interruptible|uninterruptible"};
  }
  if (c.profiling.offcpu_max_block.count() != 0 &&
      c.profiling.offcpu_min_block > c.profiling.offcpu_max_block) {
    return Error{"probes.offcpu.min_block must not exceed probes.offcpu.max_block"};
  }
  if (!(c.profiling.offcpu_sample_ratio > 0 && c.profiling.offcpu_sample_ratio <= 1)) {
    return Error{"probes.offcpu.sample_ratio must be greater than 0 and at most 1"};
  }
  if (c.profiling.unwind_method != "cfi" && c.profiling.unwind_method != "frame_pointers") {
    return Error{"unwind.method '" + c.profiling.unwind_method +
                 "' is not one of cfi|frame_pointers"};
  }
  // 1,024 rows at least (a useful table); 64 Mi rows (768 MiB) at most: above any node's need.
  if (c.profiling.unwind_max_rows < 1024 || c.profiling.unwind_max_rows > (64u << 20)) {
    return Error{"unwind.max_rows must be between 1024 and 67108864"};
  }
  if (!(c.otlp.sampling_ratio >= 0 && c.otlp.sampling_ratio <= 1)) {  // NaN fails too
    return Error{"otlp.sampling_ratio must be between 0 and 1"};
  }
  if (c.otlp.compression != "none" && c.otlp.compression != "gzip") {
    return Error{"otlp.compression '" + c.otlp.compression + "' is not one of none|gzip"};
  }
  if (c.otlp.protocol != "http/protobuf" && c.otlp.protocol != "http/json") {
    return Error{"otlp.protocol '" + c.otlp.protocol + "' is not one of http/protobuf|http/json"};
  }
  if (c.sockets.capture_bytes > 16384) {
    return Error{"probes.sockets.capture_bytes must be at most 16384"};
  }
  if (c.sockets.max_routes_per_service == 0) {
    return Error{"probes.sockets.max_routes_per_service must be at least 1"};
  }
  for (auto pid : c.select.pids) {
    if (pid == 0) return Error{"pid 0 cannot be selected"};
  }
  return Status::Ok();
}

}  // namespace zerotrace
