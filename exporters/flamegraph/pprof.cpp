#include "flamegraph/pprof.h"

#include <algorithm>
#include <fstream>
#include <ostream>
#include <unordered_map>

#include "core/gzip.h"
#include "core/utf8.h"
#include "flamegraph/profile.pb.h"

namespace zerotrace::flamegraph {
namespace {

namespace pb = ::perftools::profiles;

constexpr std::string_view kKernelMapping = "[kernel.kallsyms]";

// Interns strings into Profile.string_table; index 0 is "" as the format requires.
class StringTable {
 public:
  explicit StringTable(pb::Profile* profile) : profile_(profile) { Intern(""); }

  int64_t Intern(std::string_view s) {
    auto it = index_.find(std::string(s));
    if (it != index_.end()) return it->second;
    int64_t idx = profile_->string_table_size();
    // proto3 strings must be UTF-8; Go's decoder (go tool pprof) rejects the file otherwise.
    profile_->add_string_table(ToValidUtf8(s));
    index_.emplace(std::string(s), idx);
    return idx;
  }

 private:
  pb::Profile* profile_;
  std::unordered_map<std::string, int64_t> index_;
};

// Builds the Mapping/Location/Function tables, deduplicating each so that a profile with many
// samples through the same code stays small.
class TableBuilder {
 public:
  TableBuilder(pb::Profile* profile, StringTable* strings) : profile_(profile), strings_(strings) {}

  uint64_t LocationFor(const Frame& frame) {
    uint64_t mapping_id = MappingFor(frame);
    uint64_t address = frame.address != 0 ? frame.address : frame.module_offset;
    if (mapping_id == 0) address = 0;  // an address without a mapping means nothing to pprof
    uint64_t function_id = FunctionFor(FrameName(frame), frame.module);
    LocationKey key{mapping_id, address, function_id};
    auto it = locations_.find(key);
    if (it != locations_.end()) return it->second;

    pb::Location* loc = profile_->add_location();
    loc->set_id(static_cast<uint64_t>(profile_->location_size()));
    loc->set_mapping_id(mapping_id);
    loc->set_address(address);
    pb::Line* line = loc->add_line();
    line->set_function_id(function_id);
    if (frame.line > 0) line->set_line(frame.line);
    locations_.emplace(key, loc->id());
    if (mapping_id != 0) NoteAddress(mapping_id, address, frame);
    return loc->id();
  }

  // A location with a function but no mapping, for synthetic frames such as [truncated].
  uint64_t SyntheticLocation(std::string_view name) {
    return LocationFor(Frame{std::string(name)});
  }

  // Sets each mapping's address range from the addresses seen; we do not have the loader's view,
  // so this is the tightest range consistent with the locations (what pprof validates against).
  void FinishMappings() {
    for (pb::Mapping& m : *profile_->mutable_mapping()) {
      const Range& r = ranges_[m.id()];
      if (!r.seen) continue;
      m.set_memory_start(r.min_address);
      m.set_memory_limit(r.max_address + 1);
      m.set_file_offset(r.min_file_offset);
      m.set_has_functions(!r.unsymbolized);
    }
  }

 private:
  struct LocationKey {
    uint64_t mapping_id;
    uint64_t address;
    uint64_t function_id;
    bool operator==(const LocationKey&) const = default;
  };
  struct LocationKeyHash {
    size_t operator()(const LocationKey& k) const {
      uint64_t h = k.mapping_id * 0x9e3779b97f4a7c15ULL;
      h ^= k.address + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      h ^= k.function_id + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      return static_cast<size_t>(h);
    }
  };

  struct Range {
    bool seen = false;
    bool unsymbolized = false;
    uint64_t min_address = 0;
    uint64_t max_address = 0;
    uint64_t min_file_offset = 0;
  };

  uint64_t MappingFor(const Frame& frame) {
    std::string file = frame.module;
    if (file.empty() && frame.kind == FrameKind::kKernel) file = std::string(kKernelMapping);
    // GPU kernels and frames of unknown origin have no ELF object behind them.
    // Interpreted frames (a line, a source file) have no ELF object behind them either.
    if (file.empty() || frame.kind == FrameKind::kGpu || frame.line > 0) return 0;
    std::string key = file + '\0' + frame.build_id;
    auto it = mappings_.find(key);
    if (it != mappings_.end()) return it->second;
    pb::Mapping* m = profile_->add_mapping();
    m->set_id(static_cast<uint64_t>(profile_->mapping_size()));
    m->set_filename(strings_->Intern(file));
    m->set_build_id(strings_->Intern(frame.build_id));
    m->set_has_functions(true);
    mappings_.emplace(std::move(key), m->id());
    return m->id();
  }

  uint64_t FunctionFor(const std::string& name, const std::string& module) {
    std::string key = name + '\0' + module;
    auto it = functions_.find(key);
    if (it != functions_.end()) return it->second;
    pb::Function* f = profile_->add_function();
    f->set_id(static_cast<uint64_t>(profile_->function_size()));
    int64_t idx = strings_->Intern(name);
    f->set_name(idx);
    f->set_system_name(idx);
    functions_.emplace(std::move(key), f->id());
    return f->id();
  }

  void NoteAddress(uint64_t mapping_id, uint64_t address, const Frame& frame) {
    Range& r = ranges_[mapping_id];
    // Offset of the mapping start inside the file, assuming one segment: the min address's
    // file offset (or the address itself when it already is an offset).
    uint64_t file_offset = frame.address != 0 ? frame.module_offset : address;
    if (!r.seen || address < r.min_address) {
      r.min_address = address;
      r.min_file_offset = file_offset;
    }
    if (!r.seen || address > r.max_address) r.max_address = address;
    r.seen = true;
    if (frame.function.empty()) r.unsymbolized = true;
  }

  pb::Profile* profile_;
  StringTable* strings_;
  // Hash maps: a busy profile has hundreds of thousands of distinct addresses.
  std::unordered_map<std::string, uint64_t> mappings_;  // file \0 build id
  std::unordered_map<LocationKey, uint64_t, LocationKeyHash> locations_;
  std::unordered_map<std::string, uint64_t> functions_;  // name \0 module
  std::unordered_map<uint64_t, Range> ranges_;
};

void SetValueType(pb::ValueType* vt, StringTable& strings, std::string_view type,
                  std::string_view unit) {
  vt->set_type(strings.Intern(type));
  vt->set_unit(strings.Intern(unit));
}

}  // namespace

Status PprofWriter::Serialize(const Profile& profile, std::string* out) const {
  pb::Profile msg;
  StringTable strings(&msg);
  TableBuilder tables(&msg, &strings);

  const bool oncpu = profile.type == ProfileType::kOnCpu;
  switch (profile.type) {
    case ProfileType::kOnCpu:
      SetValueType(msg.add_sample_type(), strings, "samples", "count");
      SetValueType(msg.add_sample_type(), strings, "cpu", "nanoseconds");
      SetValueType(msg.mutable_period_type(), strings, "cpu", "nanoseconds");
      msg.set_period(static_cast<int64_t>(profile.period_ns));
      msg.set_default_sample_type(strings.Intern("cpu"));
      break;
    case ProfileType::kOffCpu:
      SetValueType(msg.add_sample_type(), strings, "offcpu", "nanoseconds");
      SetValueType(msg.mutable_period_type(), strings, "offcpu", "nanoseconds");
      msg.set_period(1);
      break;
    case ProfileType::kGpu:
      SetValueType(msg.add_sample_type(), strings, "gpu", "nanoseconds");
      SetValueType(msg.mutable_period_type(), strings, "gpu", "nanoseconds");
      msg.set_period(1);
      break;
  }
  msg.set_time_nanos(profile.start_unix_ns);
  msg.set_duration_nanos(profile.duration_ns);
  msg.add_comment(
      strings.Intern("zerotrace " + std::string(ProfileTypeName(profile.type)) + " profile"));
  for (const std::string& c : options_.comments) msg.add_comment(strings.Intern(c));

  const int64_t key_pid = strings.Intern("pid");
  const int64_t key_process = strings.Intern("process");
  const int64_t key_truncated = strings.Intern("truncated");
  for (const StackSample& s : profile.samples) {
    if (s.value == 0) continue;
    pb::Sample* sample = msg.add_sample();
    // pprof wants the leaf first; our model is root first.
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      sample->add_location_id(tables.LocationFor(*it));
    }
    if (s.truncated) sample->add_location_id(tables.SyntheticLocation("[truncated]"));
    int64_t value = static_cast<int64_t>(std::min<uint64_t>(s.value, INT64_MAX));
    sample->add_value(value);
    if (oncpu) {
      uint64_t ns = s.value * profile.period_ns;
      bool overflow = profile.period_ns != 0 && ns / profile.period_ns != s.value;
      sample->add_value(overflow || ns > INT64_MAX ? INT64_MAX : static_cast<int64_t>(ns));
    }
    pb::Label* pid = sample->add_label();
    pid->set_key(key_pid);
    pid->set_num(s.pid);
    pb::Label* process = sample->add_label();
    process->set_key(key_process);
    process->set_str(strings.Intern(s.process));
    for (const auto& [key, value] : s.labels) {
      pb::Label* l = sample->add_label();
      l->set_key(strings.Intern(key));
      l->set_str(strings.Intern(value));
    }
    if (s.truncated) {
      pb::Label* t = sample->add_label();
      t->set_key(key_truncated);
      t->set_str(strings.Intern("true"));
    }
  }
  tables.FinishMappings();

  out->clear();
  if (!msg.SerializeToString(out)) return Error{"pprof: serialization failed"};
  return Status::Ok();
}

Status PprofWriter::Encode(const Profile& profile, std::string* out) const {
  std::string raw;
  Status st = Serialize(profile, &raw);
  if (!st) return st;
  auto gz = GzipCompress(raw, options_.gzip_level);
  if (!gz) return gz.error();
  *out = std::move(*gz);
  return Status::Ok();
}

Status PprofWriter::Write(const Profile& profile, std::ostream& out) const {
  std::string gz;
  Status st = Encode(profile, &gz);
  if (!st) return st;
  out.write(gz.data(), static_cast<std::streamsize>(gz.size()));
  out.flush();
  if (!out) return Error{"pprof: write failed"};
  return Status::Ok();
}

Status PprofWriter::WriteFile(const Profile& profile, const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error{"pprof: cannot open " + path + " for writing"};
  Status st = Write(profile, out);
  if (!st) return Error{st.message() + " (" + path + ")"};
  return st;
}

}  // namespace zerotrace::flamegraph
