#pragma once

// gzip (RFC 1952) through zlib: OTLP/HTTP bodies (both ways) and pprof files.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace zerotrace {

// Compresses `data` into one gzip member. level: 0..9, or -1 for zlib's default.
Result<std::string> GzipCompress(std::string_view data, int level = -1);

// Inflates gzip (or zlib) data. Refuses to produce more than `max_output` bytes, so a hostile or
// corrupt input cannot exhaust memory; a truncated input is an error, not a short result.
Result<std::string> GzipDecompress(std::string_view data, size_t max_output);

}  // namespace zerotrace
