#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace zerotrace {

enum class Feature {
  kBtf,
  kRingBuffer,
  kTracepoint,
  kRawTracepoint,
  kTpBtf,
  kUprobe,
  kPerfEvent,
  kKprobe,
  kFentry,
  kBpfStats,
  kCount,
};

const char* FeatureName(Feature f);

struct FeatureAnswer {
  bool supported = false;
  std::string detail;  // why not, or how it was established
};

// How a feature is established. The real one loads tiny BPF programs; tests substitute a fake so
// every fallback path is exercised without a special kernel.
class FeatureProber {
 public:
  virtual ~FeatureProber() = default;
  virtual FeatureAnswer Probe(Feature f) = 0;
};

std::unique_ptr<FeatureProber> MakeKernelFeatureProber();

// Caches each answer: probing loads programs and must happen once per run, not per probe.
class Features {
 public:
  explicit Features(std::unique_ptr<FeatureProber> prober);
  bool Has(Feature f);
  const FeatureAnswer& Answer(Feature f);

 private:
  std::unique_ptr<FeatureProber> prober_;
  std::mutex mu_;
  std::array<std::optional<FeatureAnswer>, static_cast<size_t>(Feature::kCount)> cache_;
};

}  // namespace zerotrace
