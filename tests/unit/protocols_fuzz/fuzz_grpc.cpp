// libFuzzer entry point; the same function runs under fuzz_replay with any compiler.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return zerotrace::protocols::fuzz::FuzzGrpc(data, size);
}
