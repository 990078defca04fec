#include "profiling/profiling_service.h"

#include <spdlog/spdlog.h>

#include "core/metric_family.h"
#include "flamegraph/folded.h"
#include "flamegraph/pprof.h"
#include "flamegraph/svg.h"

namespace zerotrace::profiling {
namespace {

constexpr std::chrono::minutes kSeriesTtl{10};

}  // namespace

Result<RenderedProfile> RenderProfile(const profile::Profile& profile, const std::string& format,
                                      const std::string& title) {
  if (format == "svg") {
    flamegraph::SvgOptions o;
    o.title = title;
    return RenderedProfile{flamegraph::SvgFlamegraphWriter(o).ToString(profile), "image/svg+xml"};
  }
  if (format == "folded") {
    return RenderedProfile{flamegraph::FoldedWriter::ToString(profile),
                           "text/plain; charset=utf-8"};
  }
  if (format == "pprof") {
    std::string body;
    if (auto s = flamegraph::PprofWriter().Encode(profile, &body); !s) return Error{s.message()};
    return RenderedProfile{std::move(body), "application/octet-stream"};
  }
  return Error{"unknown format '" + format + "' (svg, folded, pprof)"};
}

ProfilingService::ProfilingService(Features& features, ProcessFilter& filter,
                                   ProcessCatalog& catalog, prometheus::Registry& registry,
                                   const ProfilingServiceOptions& options)
    : catalog_(catalog),
      oncpu_samples_(CounterFamily(registry, "zerotrace_oncpu_samples_total")),
      offcpu_seconds_(CounterFamily(registry, "zerotrace_offcpu_seconds_total")),
      oncpu_series_(oncpu_samples_, kSeriesTtl),
      offcpu_series_(offcpu_seconds_, kSeriesTtl),
      kernel_symbols_bytes_(GaugeFamily(registry, "zerotrace_symbolizer_memory_bytes")
                                .Add({{"symbolizer", "kernel"}})),
      user_symbols_bytes_(GaugeFamily(registry, "zerotrace_symbolizer_memory_bytes")
                              .Add({{"symbolizer", "user"}})),
      unwind_metrics_(registry) {
  auto symbolizers = MakeDefaultSymbolizers("/proc/kallsyms", options.proc_root);
  if (!symbolizers) {
    oncpu_error_ = offcpu_error_ = symbolizers.error().message;
    return;
  }
  user_symbolizer_ = symbolizers->user;
  kernel_symbolizer_ = symbolizers->kernel;
  auto namer = [this](uint32_t pid, const std::string& comm) {
    auto info = catalog_.Lookup(pid);
    return info ? info->service_name : comm;
  };
  auto labeler = [this](uint32_t pid) {
    auto info = catalog_.Lookup(pid);
    return info ? K8sLabels(info->k8s) : std::map<std::string, std::string>{};
  };
  if (options.oncpu) {
    auto c = ProfileCollector::CreateOnCpu(features, filter, options.oncpu_options, *symbolizers);
    if (c) {
      oncpu_ = std::move(c.value());
      oncpu_->SetProcessNamer(namer);
      oncpu_->SetProcessLabeler(labeler);
    } else {
      oncpu_error_ = c.error().message;
    }
  }
  if (options.offcpu) {
    auto c = ProfileCollector::CreateOffCpu(features, filter, options.offcpu_options, *symbolizers);
    if (c) {
      offcpu_ = std::move(c.value());
      offcpu_->SetProcessNamer(namer);
      offcpu_->SetProcessLabeler(labeler);
    } else {
      offcpu_error_ = c.error().message;
    }
  }
}

void ProfilingService::Tick() {
  const uint64_t now_ns = SteadyNs();
  auto labels_of = [this](uint32_t pid, const std::string& comm) {
    auto info = catalog_.Lookup(pid);
    prometheus::Labels labels;
    if (info) labels = K8sLabels(info->k8s);
    labels["service_name"] = info ? info->service_name : comm;
    return labels;
  };
  auto add = [&](ExpiringSeries<prometheus::Counter>& series, uint32_t pid, const std::string& comm,
                 double value) {
    const prometheus::Labels labels = labels_of(pid, comm);
    series.Get(SeriesKey(labels), now_ns, [&] { return labels; }).Increment(value);
  };
  if (oncpu_) {
    if (auto s = oncpu_->Poll(); !s) spdlog::warn("oncpu: {}", s.message());
    for (const auto& [pid, t] : oncpu_->TakeTotals()) {
      if (t.samples) add(oncpu_series_, pid, t.comm, static_cast<double>(t.samples));
    }
  }
  if (offcpu_) {
    if (auto s = offcpu_->Poll(); !s) spdlog::warn("offcpu: {}", s.message());
    for (const auto& [pid, t] : offcpu_->TakeTotals()) {
      if (t.nanoseconds) {
        add(offcpu_series_, pid, t.comm, static_cast<double>(t.nanoseconds) / 1e9);
      }
    }
  }
  oncpu_series_.RemoveIdle(now_ns);
  offcpu_series_.RemoveIdle(now_ns);
  if (kernel_symbolizer_) {
    kernel_symbols_bytes_.Set(static_cast<double>(kernel_symbolizer_->memory_bytes()));
  }
  if (user_symbolizer_) {
    user_symbols_bytes_.Set(static_cast<double>(user_symbolizer_->memory_bytes()));
  }
  unwind_metrics_.Update({{"oncpu", oncpu_.get()}, {"offcpu", offcpu_.get()}});
}

Result<RenderedProfile> ProfilingService::Record(const std::string& type,
                                                 std::chrono::milliseconds duration, uint32_t pid,
                                                 const std::string& format,
                                                 const std::function<bool()>& stop) {
  ProfileCollector* c = type == "oncpu" ? oncpu_.get() : type == "offcpu" ? offcpu_.get() : nullptr;
  if (!c) {
    const std::string& why = type == "oncpu" ? oncpu_error_ : offcpu_error_;
    if (type != "oncpu" && type != "offcpu") {
      return Error{"unknown profile type '" + type + "' (oncpu, offcpu, gpu)"};
    }
    return Error{type + " profiling is not running" + (why.empty() ? "" : ": " + why)};
  }
  std::set<uint32_t> pids;
  if (pid) pids.insert(pid);
  auto profile = c->Record(duration, pids, std::chrono::milliseconds(500), stop);
  const std::string title = (type == "oncpu" ? "On-CPU" : "Off-CPU") + std::string(" flamegraph") +
                            (pid ? " for pid " + std::to_string(pid) : "");
  return RenderProfile(profile, format, title);
}

}  // namespace zerotrace::profiling
