#include "symbolizer/demangle.h"

#include <cxxabi.h>

#include <cstdlib>

namespace zerotrace::symbolizer {

std::string Demangle(const std::string& name) {
  if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || !out) return name;
  std::string result(out);
  std::free(out);
  return result;
}

}  // namespace zerotrace::symbolizer
