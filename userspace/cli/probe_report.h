#pragma once

#include <string>

#include "core/features.h"

namespace zerotrace {

// `zerotrace probe`: what the kernel supports and which path each probe takes.
std::string ProbeReportTable(Features& features);
std::string ProbeReportJson(Features& features);

}  // namespace zerotrace
