#include "catalog_check.h"

#include <algorithm>
#include <cmath>

#include "core/metrics_catalog.h"

namespace zerotrace::testing {
namespace {

metrics::Type TypeOf(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return metrics::Type::kCounter;
    case prometheus::MetricType::Gauge:
      return metrics::Type::kGauge;
    default:
      return metrics::Type::kHistogram;
  }
}

}  // namespace

std::vector<std::string> CatalogViolations(const std::vector<prometheus::MetricFamily>& families) {
  std::vector<std::string> out;
  const auto& k8s = metrics::K8sLabelNames();
  for (const auto& family : families) {
    const metrics::Spec* spec = metrics::Find(family.name);
    if (spec == nullptr) {
      out.push_back(family.name + ": not declared");
      continue;
    }
    if (TypeOf(family.type) != spec->type) out.push_back(family.name + ": wrong type");
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (spec->per_service && (label.name == "service_name" ||
                                  std::find(k8s.begin(), k8s.end(), label.name) != k8s.end())) {
          continue;
        }
        auto declared = std::find_if(spec->labels.begin(), spec->labels.end(),
                                     [&](const metrics::Label& l) { return l.name == label.name; });
        if (declared == spec->labels.end()) {
          out.push_back(family.name + ": undeclared label " + label.name);
        } else if (!declared->values.empty() &&
                   std::find(declared->values.begin(), declared->values.end(), label.value) ==
                       declared->values.end()) {
          out.push_back(family.name + ": " + label.name + "=" + label.value + " not declared");
        }
      }
      if (spec->type != metrics::Type::kHistogram) continue;
      const auto& bounds = metrics::BucketBoundaries(spec->buckets);
      std::vector<double> got;
      for (const auto& b : metric.histogram.bucket) {
        if (!std::isinf(b.upper_bound)) got.push_back(b.upper_bound);
      }
      if (got != bounds) out.push_back(family.name + ": buckets differ from the catalog's");
    }
  }
  return out;
}

}  // namespace zerotrace::testing
