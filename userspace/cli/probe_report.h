#pragma once

#include <string>
#include <vector>

#include "cli/probe_check.h"
#include "core/features.h"

namespace zerotrace {

// `zerotrace probe`: in plain words what a user gets on this kernel and what not (from `checks`,
// the probes really loaded; empty when not loaded, e.g. without root), then the kernel features
// and each probe's path, load result and verifier budget.
std::string ProbeReportTable(Features& features, const std::vector<ProbeCheck>& checks = {});
std::string ProbeReportJson(Features& features, const std::vector<ProbeCheck>& checks = {});

}  // namespace zerotrace
