#pragma once

// Every metric zerotrace exports, declared once: name, type, help, label names (and the values a
// closed label can take), buckets and documentation. Families are registered only through the
// declaration (core/metric_family.h), docs/metrics.md is generated from it (`zerotrace metrics
// --format markdown`; a test fails when the file is stale), and the dashboards, alert rules and a
// live scrape are checked against it (`--format json`, tests/unit/deploy).

#include <string>
#include <string_view>
#include <vector>

namespace zerotrace::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// Histogram layouts. kLog2Seconds: powers of two of nanoseconds (the kernel aggregates into log2
// slots); kOtelSeconds: OpenTelemetry's default duration boundaries; kGpuSeconds: 1 µs .. 5 s.
enum class Buckets { kNone, kOtelSeconds, kLog2Seconds, kGpuSeconds };

// kLog2Seconds: 2^first ns to 2^last ns, every `step`-th power (aggregators/log2_histogram.h maps
// the kernel's slots onto these; two slots to a bucket).
inline constexpr int kLog2FirstExponent = 10;
inline constexpr int kLog2LastExponent = 34;
inline constexpr int kLog2Step = 2;

struct Label {
  std::string name;
  std::vector<std::string> values;  // the closed set of values; empty = open (from the workload)
};

struct Spec {
  std::string name;
  Type type = Type::kCounter;
  std::string help;       // the # HELP line
  std::string type_note;  // shown after the type in the docs, e.g. "(always 1)"
  // Per-process series: `service_name` first, then `labels`, then the k8s_* labels on Kubernetes.
  bool per_service = false;
  std::vector<Label> labels;
  Buckets buckets = Buckets::kNone;
  std::string doc;        // the docs' "Meaning" column (markdown)
  bool external = false;  // made by Prometheus, not zerotrace (documented for dashboards)
};

struct Section {
  std::string title;
  std::string intro;  // markdown before the table
  std::vector<Spec> metrics;
  std::string outro;  // markdown after the table
};

// The k8s_* labels every per-service series carries on Kubernetes (absent elsewhere).
const std::vector<std::string>& K8sLabelNames();

const std::vector<Section>& Catalog();

// The declaration of `name`, or nullptr.
const Spec* Find(std::string_view name);

// The bucket boundaries of a histogram layout, in seconds.
const std::vector<double>& BucketBoundaries(Buckets buckets);

std::string_view TypeName(Type type);

// docs/metrics.md, whole.
std::string RenderMarkdown();
// The catalog as JSON, for the checks of dashboards, alert rules and live scrapes.
std::string RenderJson();

}  // namespace zerotrace::metrics
