#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace zerotrace::testing {

// What a registry holds against the metrics catalog (userspace/core/metrics_catalog.cpp): every
// family declared with its type, every series with declared labels only (service_name + k8s_* on
// per-service metrics), a closed label's values within its list, a histogram's declared buckets.
// Returns one line per violation (empty: conforms). For aggregators a live scrape cannot reach
// (GPU on a machine without one).
std::vector<std::string> CatalogViolations(const std::vector<prometheus::MetricFamily>& families);

}  // namespace zerotrace::testing
