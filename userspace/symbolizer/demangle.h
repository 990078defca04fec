#pragma once

#include <string>

namespace zerotrace::symbolizer {

// Itanium C++ ABI demangling (`_ZN3foo3barEv` -> `foo::bar()`); other names come back unchanged.
std::string Demangle(const std::string& name);

}  // namespace zerotrace::symbolizer
