#pragma once

// Registration of metric families, only through their declaration in core/metrics_catalog.cpp:
// the name must be declared there with that type, and the help text comes from there. An
// undeclared name is a programming error, thrown at construction (every test that builds the
// component catches it), so no metric reaches /metrics undocumented.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "core/metrics_catalog.h"

namespace zerotrace {

inline const metrics::Spec& DeclaredMetric(std::string_view name, metrics::Type type) {
  const metrics::Spec* spec = metrics::Find(name);
  if (spec == nullptr || spec->type != type || spec->external) {
    throw std::logic_error("metric " + std::string(name) + " is not declared as a " +
                           std::string(metrics::TypeName(type)) +
                           " in userspace/core/metrics_catalog.cpp");
  }
  return *spec;
}

// Label values come per series (Add).
inline prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                              std::string_view name) {
  const metrics::Spec& spec = DeclaredMetric(name, metrics::Type::kCounter);
  return prometheus::BuildCounter().Name(spec.name).Help(spec.help).Register(registry);
}

inline prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                          std::string_view name) {
  const metrics::Spec& spec = DeclaredMetric(name, metrics::Type::kGauge);
  return prometheus::BuildGauge().Name(spec.name).Help(spec.help).Register(registry);
}

inline prometheus::Family<prometheus::Histogram>& HistogramFamily(prometheus::Registry& registry,
                                                                  std::string_view name) {
  const metrics::Spec& spec = DeclaredMetric(name, metrics::Type::kHistogram);
  return prometheus::BuildHistogram().Name(spec.name).Help(spec.help).Register(registry);
}

}  // namespace zerotrace
