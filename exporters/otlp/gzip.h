#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace zerotrace::otlp {

// gzip (RFC 1952) framing via zlib.
Result<std::string> GzipCompress(std::string_view data);
// Refuses to inflate beyond max_output bytes (bounded memory).
Result<std::string> GzipDecompress(std::string_view data, size_t max_output = 64 * 1024 * 1024);

}  // namespace zerotrace::otlp
