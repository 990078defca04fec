// libFuzzer entry point of one fuzz_<name> binary: ZT_FUZZ_ENTRY names its function in
// parsers_fuzz_targets.h (set per binary by CMakeLists.txt).
#include "parsers_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return zerotrace::fuzz::ZT_FUZZ_ENTRY(data, size);
}
