#pragma once

// Symbol names, comms and paths are arbitrary bytes, but XML and proto3 `string` fields must be
// valid UTF-8 (Go's protobuf, used by `go tool pprof`, rejects a profile otherwise).

#include <string>
#include <string_view>

namespace zerotrace::flamegraph {

// Returns `text` with every byte that is not part of a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF included) replaced by '?'. Valid text is unchanged.
std::string ToValidUtf8(std::string_view text);

// Length of the valid UTF-8 sequence starting at text[i], or 0 if the byte there does not start
// one. ASCII counts as length 1.
size_t Utf8SequenceLength(std::string_view text, size_t i);

}  // namespace zerotrace::flamegraph
