#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace zerotrace {

struct AttachOptions {
  uint32_t pid = 0;
  std::chrono::milliseconds duration{30000};
  std::vector<std::string> profiles;  // oncpu, offcpu, gpu (empty: requests only)
  std::string out_dir = ".";
  std::string summary_json;  // also write the RED table as JSON here
  std::string spans_file;    // write request spans as OTLP JSON lines here ("-" = stdout)
  std::string proc_root = "/proc";
  // Created (atomically) once the probes are attached and the window has begun, so a script can
  // start its load then instead of reading the terminal.
  std::string ready_file;
  // How the profilers walk user stacks: "cfi" (each file's .eh_frame, frame pointers where a
  // file has none) or "frame_pointers".
  std::string unwind = "cfi";
};

// `zerotrace attach`: observes one running process for a while, with progress on the terminal,
// then prints a RED table per endpoint (and profile summaries) and writes the files. Returns the
// process exit code: 0 done, 1 cannot trace, 2 bad arguments.
int RunAttach(const AttachOptions& options);

}  // namespace zerotrace
