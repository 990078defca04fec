#pragma once

#include <cstddef>
#include <cstdint>

namespace zerotrace::protocols::fuzz {

// Entry points shared by the libFuzzer binaries and the fuzz_replay driver. Each returns 0 and
// aborts on a violated invariant (sanitizers catch memory errors).
int FuzzHttp1(const uint8_t* data, size_t size);
int FuzzHpack(const uint8_t* data, size_t size);
int FuzzHttp2(const uint8_t* data, size_t size);
int FuzzGrpc(const uint8_t* data, size_t size);

}  // namespace zerotrace::protocols::fuzz
