#pragma once

// pprof (profile.proto, gzip'd) export: the format go tool pprof, Pyroscope, Parca and speedscope
// all read, so our profiles plug into existing fleet tooling instead of a viewer of our own.

#include <iosfwd>
#include <string>
#include <vector>

#include "flamegraph/profile.h"

namespace zerotrace::flamegraph {

struct PprofOptions {
  // Extra free-form comments stored in the profile (shown by `go tool pprof -comments`).
  std::vector<std::string> comments;
  int gzip_level = -1;  // zlib level; -1 = zlib default
};

// Sample types by profile type:
//   on-CPU:  samples/count, cpu/nanoseconds (= count * period_ns); period_type cpu/nanoseconds
//   off-CPU: offcpu/nanoseconds
//   GPU:     gpu/nanoseconds
// Every sample carries labels `process` (string) and `pid` (number); truncated stacks get a
// root-most `[truncated]` location and the label truncated="true".
class PprofWriter {
 public:
  explicit PprofWriter(PprofOptions options = {}) : options_(std::move(options)) {}

  // The serialized, uncompressed perftools.profiles.Profile message.
  Status Serialize(const Profile& profile, std::string* out) const;
  // Serialize() + gzip: the bytes of a .pb.gz file / an HTTP `application/octet-stream` body.
  Status Encode(const Profile& profile, std::string* out) const;
  Status Write(const Profile& profile, std::ostream& out) const;
  Status WriteFile(const Profile& profile, const std::string& path) const;

 private:
  PprofOptions options_;
};

}  // namespace zerotrace::flamegraph
