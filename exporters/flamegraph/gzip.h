#pragma once

// Thin zlib wrappers for the gzip container pprof files (and HTTP bodies) use.

#include <cstddef>
#include <string>
#include <string_view>

#include "flamegraph/profile.h"

namespace zerotrace::flamegraph {

// Compresses `in` into a gzip member (RFC 1952). level: 0..9, or -1 for zlib's default.
Status GzipCompress(std::string_view in, std::string* out, int level = -1);

// Decompresses gzip (or zlib) data. Refuses to produce more than max_out bytes so a hostile or
// corrupt input cannot exhaust memory.
Status GzipDecompress(std::string_view in, std::string* out, size_t max_out = size_t{1} << 30);

}  // namespace zerotrace::flamegraph
