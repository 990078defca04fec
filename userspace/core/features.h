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
  kSockTracepoints,  // tp_btf on sock:sock_{send,recv}_length (Linux 6.3+), with task registers
  kUprobe,
  kPerfEvent,
  kKprobe,
  kFentry,
  kBpfStats,
  kBpfLoop,    // the bpf_loop() helper (Linux 5.17+): HTTP/2 frame following
  kTaskBtf,    // bpf_get_current_task_btf() (Linux 5.11+): direct task reads in tp_btf programs
  kBpfCookie,  // BPF cookies (Linux 5.15+): libbpf's USDT attach to a shared library for all pids
  kCount,
};

const char* FeatureName(Feature f);
// Parses "raw_tracepoint,tp_btf" (feature names as FeatureName prints them); unknown names are
// returned in *unknown.
std::vector<Feature> ParseFeatureList(const std::string& list, std::string* unknown);

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
  // `disabled` features answer "no" without probing: ZEROTRACE_DISABLE_FEATURES lets an operator
  // (and the tests) force a fallback path on a kernel that has the preferred one.
  explicit Features(std::unique_ptr<FeatureProber> prober, std::vector<Feature> disabled = {});
  bool Has(Feature f);
  const FeatureAnswer& Answer(Feature f);

 private:
  std::unique_ptr<FeatureProber> prober_;
  std::vector<Feature> disabled_;
  std::mutex mu_;
  std::array<std::optional<FeatureAnswer>, static_cast<size_t>(Feature::kCount)> cache_;
};

}  // namespace zerotrace
