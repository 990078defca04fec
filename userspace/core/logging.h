#pragma once

#include <string>

#include "core/result.h"

namespace zerotrace {

// Installs the process-wide spdlog logger on stderr: `text` for people, `json` (one object per
// line with time, level, msg) for log pipelines.
Status SetupLogging(const std::string& format, const std::string& level);

// JSON string escaping used by the JSON log formatter (exposed for tests).
std::string JsonEscape(const std::string& s);

}  // namespace zerotrace
