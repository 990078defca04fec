#pragma once

#include <string>

#include "core/result.h"

namespace zerotrace {

// Tracepoint attachment needs tracefs (the event ids live there). Minimal hosts and containers
// often boot without it, so mount it at `path` when it is missing. Returns the path in use.
Result<std::string> EnsureTracefsMounted(const std::string& path = "/sys/kernel/tracing");

}  // namespace zerotrace
