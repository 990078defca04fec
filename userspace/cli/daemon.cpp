#include "cli/daemon.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <malloc.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "aggregators/syscall_aggregator.h"
#include "cli/flamegraph_query.h"
#include "core/expiring_series.h"
#include "core/metric_family.h"
#include "core/privileges.h"
#include "core/tracefs.h"
#include "core/utf8.h"
#include "probes/bpf_util.h"
#include "probes/sockets_probe.h"
#include "probes/syscall_probe.h"
#include "zt_version.h"

namespace zerotrace {
namespace {

int LibbpfLog(enum libbpf_print_level level, const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string msg(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(msg.data(), msg.size(), fmt, args);
  msg.resize(static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (level == LIBBPF_WARN) {
    // A verifier log arrives as one message of thousands of lines; its end says what failed.
    constexpr size_t kKeep = 16 * 1024;
    if (msg.size() > kKeep) msg = "[...] " + msg.substr(msg.size() - kKeep);
    spdlog::warn("libbpf: {}", msg);
  } else {
    spdlog::debug("libbpf: {}", msg);
  }
  return n;
}

std::string KernelRelease() {
  utsname u{};
  uname(&u);
  return u.release;
}

}  // namespace

std::unique_ptr<Features> MakeFeatures() {
  std::vector<Feature> disabled;
  if (const char* env = std::getenv("ZEROTRACE_DISABLE_FEATURES")) {
    std::string unknown;
    disabled = ParseFeatureList(env, &unknown);
    if (!unknown.empty())
      spdlog::warn("ZEROTRACE_DISABLE_FEATURES: unknown feature(s) {}", unknown);
  }
  return std::make_unique<Features>(MakeKernelFeatureProber(), std::move(disabled));
}

Daemon::Daemon(Config config)
    : config_(std::move(config)),
      started_(std::chrono::steady_clock::now()),
      registry_(std::make_shared<prometheus::Registry>()) {}

Daemon::~Daemon() { Shutdown(); }

Status Daemon::Start() {
  if (auto s = CheckBpfPrivileges(); !s) return s;
  RaiseMemlockLimit();
  if (auto t = EnsureTracefsMounted(); !t) return t.error();
  libbpf_set_print(LibbpfLog);

  for (uint32_t pid : config_.select.pids) {
    if (access((config_.proc_root + "/" + std::to_string(pid)).c_str(), F_OK) != 0) {
      return Error{"--pid " + std::to_string(pid) + ": no such process"};
    }
  }
  features_ = MakeFeatures();
  pods_ = std::make_unique<zerotrace::k8s::PodMetadataClient>(
      zerotrace::k8s::PodMetadataClientOptions::from_env());
  K8sResolver k8s;
  if (pods_->enabled()) {
    pods_->start();
    k8s = [this](uint32_t pid) -> std::optional<K8sIdentity> {
      auto m = pods_->lookup_pid(static_cast<int>(pid), config_.proc_root);
      if (!m) return std::nullopt;
      return K8sIdentity{m->namespace_name, m->pod_name, m->container_name, m->node_name};
    };
  }
  catalog_ = std::make_unique<ProcessCatalog>(config_.proc_root, k8s);
  auto filter = ProcessFilter::Create(config_.select);
  if (!filter) return filter.error();
  filter_ = std::make_unique<ProcessFilter>(std::move(filter.value()));
  for (const auto& comm : config_.select.comms) {
    for (uint32_t pid : catalog_->FindByComm(comm)) (void)filter_->AddPid(pid);
  }

  if (!config_.bpf_stats) {
    spdlog::info(
        "BPF run-time statistics off (the default; bpf_stats: true or --bpf-stats true turns "
        "them on): zerotrace_bpf_prog_* stay empty");
  } else if (features_->Has(Feature::kBpfStats)) {
    stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
  } else {
    spdlog::warn("BPF run-time statistics unavailable ({}): zerotrace_bpf_prog_* stay empty",
                 features_->Answer(Feature::kBpfStats).detail);
  }

  RegisterSelfMetrics();
  StartProbes();

  auto addr = ParseListenAddress(config_.listen);
  if (!addr) return addr.error();
  server_.Route("/metrics", [this](const http::Request&) { return Metrics(); });
  server_.Route("/health", [this](const http::Request&) { return Health(); });
  server_.Route("/ready", [this](const http::Request&) { return Ready(); });
  // Two recordings at once at most: each holds a thread and samples for up to 5 minutes.
  server_.Route(
      "/flamegraph", [this](const http::Request& r) { return Flamegraph(r); }, 2);
  server_.Route("/", [](const http::Request&) {
    return http::Response{
        200,
        "text/plain; charset=utf-8",
        "zerotrace " ZT_VERSION
        "\n/metrics     Prometheus metrics\n/health      liveness\n"
        "/ready       readiness (all enabled probes attached)\n"
        "/flamegraph  ?type=oncpu|offcpu&seconds=10&pid=P&format=svg|folded|pprof\n",
        {}};
  });
  if (auto err = server_.Start(addr->host, addr->port); !err.empty()) return Error{err};
  spdlog::info("zerotrace {} serving on http://{}/metrics{}", ZT_VERSION, server_.address(),
               server_.dual_stack() ? " (IPv6 and IPv4)" : "");
  return Status::Ok();
}

void Daemon::RegisterSelfMetrics() {
  self_metrics_ = std::make_unique<SelfMetrics>(*registry_);
  GaugeFamily(*registry_, "zerotrace_build_info")
      .Add({{"version", ZT_VERSION}, {"git_commit", ZT_GIT_COMMIT}, {"kernel", KernelRelease()}})
      .Set(1);
}

void Daemon::StartProbes() {
  auto& attached = GaugeFamily(*registry_, "zerotrace_probe_attached");
  auto& mode = GaugeFamily(*registry_, "zerotrace_probe_attach_mode");
  auto& lost = CounterFamily(*registry_, "zerotrace_events_lost_total");
  auto& events = CounterFamily(*registry_, "zerotrace_events_total");
  auto& stacks_lost = CounterFamily(*registry_, "zerotrace_stacks_lost_total");
  auto& uprobe_targets = GaugeFamily(*registry_, "zerotrace_uprobe_targets");

  if (config_.probes.syscalls) {
    probes_.push_back({"syscalls", std::make_unique<SyscallProbe>(*features_, *filter_)});
  }
  SocketsProbe* sockets = nullptr;
  if (config_.probes.sockets) {
    pipeline_ = std::make_unique<RequestPipeline>(*registry_, *catalog_,
                                                  config_.sockets.max_routes_per_service);
    StartSpans();
    SocketsProbeOptions opts;
    opts.capture_bytes = config_.sockets.capture_bytes;
    opts.self_tgid = static_cast<uint32_t>(getpid());
    auto probe = std::make_unique<SocketsProbe>(*features_, *filter_, opts, pipeline_->Handler());
    sockets = probe.get();
    sockets_ = sockets;
    probes_.push_back({"sockets", std::move(probe)});
  }
  if (config_.probes.oncpu || config_.probes.offcpu) {
    profiling::ProfilingServiceOptions po;
    po.oncpu = config_.probes.oncpu;
    po.offcpu = config_.probes.offcpu;
    po.proc_root = config_.proc_root;
    po.oncpu_options.frequency_hz = config_.profiling.oncpu_frequency_hz;
    po.offcpu_options.min_block = config_.profiling.offcpu_min_block;
    po.offcpu_options.max_block = config_.profiling.offcpu_max_block;
    if (auto st = ParseOffCpuStateFilter(config_.profiling.offcpu_state); st) {
      po.offcpu_options.state = *st;
    }
    profiling_ = std::make_unique<profiling::ProfilingService>(*features_, *filter_, *catalog_,
                                                               *registry_, po);
    if (po.oncpu) {
      auto* c = profiling_->oncpu();
      probes_.emplace_back("oncpu", c ? c->probe() : nullptr, profiling_->oncpu_error());
      if (c) probes_.back().stacks_lost = [c] { return c->stacks_lost(); };
    }
    if (po.offcpu) {
      auto* c = profiling_->offcpu();
      probes_.emplace_back("offcpu", c ? c->probe() : nullptr, profiling_->offcpu_error());
      if (c) probes_.back().stacks_lost = [c] { return c->stacks_lost(); };
    }
  }
  if (config_.probes.cuda || config_.probes.cupti) StartGpu();
  for (auto& slot : probes_) {
    if (slot.owned) {
      if (auto s = slot.probe->Attach(); !s) {
        slot.error = s.message();
      } else {
        slot.attached = true;
      }
    }
    if (slot.attached) {
      spdlog::info("probe {} attached ({})", slot.name, slot.probe->attach_mode());
    } else {
      spdlog::error("probe {} not attached: {}", slot.name, slot.error);
    }
    const std::string how = slot.probe ? slot.probe->attach_mode() : "unavailable";
    attached.Add({{"probe", slot.name}}).Set(slot.attached ? 1 : 0);
    mode.Add({{"probe", slot.name}, {"mode", how}}).Set(1);
    slot.lost = std::make_unique<CumulativeCounter>(lost.Add({{"probe", slot.name}}));
    if (slot.stacks_lost) {
      slot.stacks_lost_counter =
          std::make_unique<CumulativeCounter>(stacks_lost.Add({{"probe", slot.name}}));
    }
    if (slot.attached && (slot.name == "sockets" || slot.name == "cuda" || slot.name == "cupti")) {
      slot.uprobe_targets = &uprobe_targets.Add({{"probe", slot.name}});
    }
    if (slot.attached && slot.name == "syscalls") {
      auto* p = static_cast<SyscallProbe*>(slot.probe);
      syscalls_ = std::make_unique<SyscallAggregator>(*registry_, *catalog_, p->stats_map_fd());
      syscall_events_ = std::make_unique<CumulativeCounter>(events.Add({{"probe", "syscalls"}}));
      syscall_entries_ = &GaugeFamily(*registry_, "zerotrace_syscall_map_entries").Add({});
    }
  }
  if (pipeline_) {
    auto it = std::find_if(probes_.begin(), probes_.end(),
                           [](const ProbeSlot& s) { return s.name == "sockets"; });
    if (it != probes_.end() && it->attached) {
      if (config_.probes.tls) {
        sockets->AttachTlsLibraries(config_.proc_root);
        sockets->WatchTlsLibraries(config_.proc_root);
      }
      pipeline_->Start(sockets);
    }
  }
}

void Daemon::StartGpu() {
  gpu::GpuOptions go;
  go.cuda = config_.probes.cuda;
  go.cupti = config_.probes.cupti;
  go.proc_root = config_.proc_root;
  if (profiling_ && profiling_->user_symbolizer()) {
    go.aggregator.symbolizer = profiling_->user_symbolizer();
  } else if (auto sym = profiling::MakeDefaultSymbolizers("/proc/kallsyms", config_.proc_root)) {
    go.aggregator.symbolizer = sym->user;
  }
  if (spans_) {
    // Kernels launched while a thread serves a request become spans in that request's trace.
    go.aggregator.on_kernel = [spans = spans_.get()](const GpuKernelRun& k) {
      spans->builder().OnGpuKernel(k);
    };
  }
  auto g = gpu::GpuTracing::Create(*features_, *filter_, *catalog_, *registry_, go);
  std::string error;
  if (g) {
    gpu_ = std::move(g.value());
    if (auto s = gpu_->Attach(); !s) error = s.message();
    for (const auto& w : gpu_->warnings()) spdlog::info("gpu: {}", w);
  } else {
    error = g.error().message;
  }
  if (!error.empty()) {
    for (const char* name : {"cuda", "cupti"}) probes_.emplace_back(name, nullptr, error);
    gpu_.reset();
    return;
  }
  for (Probe* p : gpu_->probes()) probes_.emplace_back(p->name(), p, "");
  gpu_poller_ = std::thread([this] {
    while (!gpu_stop_) gpu_->Poll(100);
  });
}

void Daemon::StartSpans() {
  const auto& c = config_.otlp;
  otlp::OtlpExporterOptions base;
  base.endpoint = c.endpoint;
  base.traces_endpoint = c.traces_endpoint;
  for (const auto& [k, v] : c.headers) base.headers.emplace_back(k, v);
  base.compression =
      c.compression == "gzip" ? otlp::OtlpCompression::kGzip : otlp::OtlpCompression::kNone;
  base.encoding =
      c.protocol == "http/json" ? otlp::OtlpEncoding::kJson : otlp::OtlpEncoding::kProtobuf;
  auto otlp = otlp::OtlpExporterOptions::FromEnvironment(base);
  if (!otlp.ok()) {
    spdlog::error("spans disabled: {}", otlp.error().message);
    return;
  }
  if (!otlp->Enabled()) {
    spdlog::info("spans off: set OTEL_EXPORTER_OTLP_ENDPOINT to export request spans over OTLP");
    return;
  }
  tracing::SpanBuilderOptions so;
  so.sampler.ratio = c.sampling_ratio;
  so.sampler.keep_errors = c.keep_errors;
  so.sampler.keep_slower_than_ns = static_cast<uint64_t>(c.keep_slower_than.count()) * 1000000ull;
  auto spans = tracing::SpanPipeline::Create(*catalog_, registry_.get(), *otlp, so);
  if (!spans.ok()) {
    spdlog::error("spans disabled: {}", spans.error().message);
    return;
  }
  spans_ = std::move(spans.value());
  pipeline_->AddConsumer(spans_->consumer());
  spdlog::info("exporting request spans to {}", otlp->TracesUrl());
}

void Daemon::Refresh() {
  std::lock_guard lock(refresh_mu_);
  if (syscalls_) {
    syscalls_->Collect();
    syscall_events_->Update(syscalls_->events_seen());
    syscall_entries_->Set(static_cast<double>(syscalls_->tracked_entries()));
  }
  if (pipeline_) pipeline_->Refresh();
  if (profiling_) profiling_->Tick();
  self_metrics_->Update();
  auto& run_seconds = CounterFamily(*registry_, "zerotrace_bpf_prog_run_seconds_total");
  auto& runs = CounterFamily(*registry_, "zerotrace_bpf_prog_runs_total");
  for (auto& slot : probes_) {
    if (!slot.attached) continue;
    slot.lost->Update(slot.probe->events_lost());
    if (slot.stacks_lost_counter) slot.stacks_lost_counter->Update(slot.stacks_lost());
    if (stats_fd_ < 0) continue;
    for (const auto& st : ReadProgramStats(slot.probe->object())) {
      auto& c = program_counters_[st.name];
      if (!c.run_seconds) {
        c.run_seconds =
            std::make_unique<CumulativeCounter>(run_seconds.Add({{"prog", st.name}}), 1e-9);
        c.runs = std::make_unique<CumulativeCounter>(runs.Add({{"prog", st.name}}));
      }
      c.run_seconds->Update(st.run_time_ns);
      c.runs->Update(st.run_count);
    }
  }
}

void Daemon::UpdateUprobeTargets() {
  for (auto& slot : probes_) {
    if (slot.uprobe_targets) {
      slot.uprobe_targets->Set(static_cast<double>(slot.probe->uprobe_targets()));
    }
  }
}

void Daemon::Housekeeping() {
  const auto t0 = std::chrono::steady_clock::now();
  Refresh();
  const auto t1 = std::chrono::steady_clock::now();
  // New libraries (libcuda, the CUPTI injector, libssl) are found by reading every process's
  // maps, which costs hundreds of ms on a busy node: every 5th tick is soon enough.
  const bool scan_libraries = tick_++ % 5 == 0;
  if (gpu_ && scan_libraries) {
    if (auto s = gpu_->Rescan(); !s) spdlog::warn("gpu: {}", s.message());
  }
  const auto t2 = std::chrono::steady_clock::now();
  if (sockets_ && config_.probes.tls && scan_libraries) {
    sockets_->AttachTlsLibraries(config_.proc_root);
  }
  const auto t3 = std::chrono::steady_clock::now();
  UpdateUprobeTargets();  // what the scans attached shows now, not one tick later
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  spdlog::debug("tick: refresh {} ms, gpu rescan {} ms, tls scan {} ms", ms(t1 - t0), ms(t2 - t1),
                ms(t3 - t2));
  // glibc keeps freed memory in its arenas (one per thread that allocated), so bursts (a kallsyms
  // re-read, an OTLP outage's queue, a symbol table loaded and evicted) stay in RSS after they
  // are freed. Once a minute, give it back: RSS then follows what is live (the soak's ±10 % rule).
  if (const auto now = std::chrono::steady_clock::now();
      now - last_trim_ >= std::chrono::minutes(1)) {
    last_trim_ = now;
    malloc_trim(0);
  }
  const auto gone = catalog_->Sweep();
  if (gpu_) {
    gpu_->ForgetProcesses(gone);
    gpu_->RemoveIdleSeries(SteadyNs());
  }
  filter_->Sweep(config_.proc_root);
}

http::Response Daemon::Metrics() {
  Refresh();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  // The exposition must be UTF-8 or Prometheus drops the whole scrape: a last guard for label
  // values from sources not cleaned where they were read.
  std::string body = out.str();
  MakeValidUtf8(&body);
  return {200, "text/plain; version=0.0.4; charset=utf-8", std::move(body), {}};
}

http::Response Daemon::Health() const {
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  nlohmann::json j{{"status", "ok"}, {"version", ZT_VERSION}, {"uptime_seconds", uptime}};
  return {200, "application/json", j.dump() + "\n", {}};
}

http::Response Daemon::Ready() {
  nlohmann::json j;
  bool ready = true;
  for (const auto& slot : probes_) {
    nlohmann::json p{{"state", slot.attached ? "attached" : "failed"},
                     {"mode", slot.probe ? slot.probe->attach_mode() : "unavailable"}};
    if (!slot.attached) p["error"] = slot.error;
    // Program ids let an operator (and the shutdown test) find exactly our programs in bpftool.
    p["program_ids"] = nlohmann::json::array();
    if (slot.probe) {
      for (const auto& prog : ReadProgramStats(slot.probe->object())) {
        p["program_ids"].push_back(prog.id);
      }
    }
    j["probes"][slot.name] = p;
    ready = ready && slot.attached;
  }
  j["ready"] = ready;
  if (probes_.empty()) j["probes"] = nlohmann::json::object();
  return {ready ? 200 : 503, "application/json", j.dump() + "\n", {}};
}

http::Response Daemon::Flamegraph(const http::Request& r) {
  // Everything is checked before recording: a bad request must not wait out its seconds first.
  auto query = ParseFlamegraphQuery(r.query);
  if (!query) return {400, "text/plain", query.error().message, {}};
  const std::string& type = query->type;
  const std::string& format = query->format;
  const uint64_t seconds = query->seconds;
  const uint32_t pid = query->pid;
  if (pid && access((config_.proc_root + "/" + std::to_string(pid)).c_str(), F_OK) != 0) {
    return {404, "text/plain", "no process " + std::to_string(pid) + "\n", {}};
  }
  if (type == "gpu" && !gpu_) {
    return {503, "text/plain", "GPU tracing is not running (probes cuda/cupti)\n", {}};
  }
  if (type != "gpu" && (!profiling_ || !(type == "oncpu" ? profiling_->oncpu() != nullptr
                                                         : profiling_->offcpu() != nullptr))) {
    return {503, "text/plain", type + " profiling is not running (probes " + type + ")\n", {}};
  }
  // Stops early when the daemon stops or the client gave up (its recording has no reader).
  auto stop = [this, &r] { return server_.stopping() || r.client_gone(); };
  Result<profiling::RenderedProfile> out = Error{""};
  if (type == "gpu") {
    std::set<uint32_t> pids;
    if (pid) pids.insert(pid);
    auto profile =
        gpu_->Record(std::chrono::seconds(seconds), pids, std::chrono::milliseconds(200), stop);
    out = profiling::RenderProfile(profile, format, "GPU flamegraph (CPU launch stack + kernel)");
  } else {
    out = profiling_->Record(type, std::chrono::seconds(seconds), pid, format, stop);
  }
  if (!out) return {400, "text/plain", out.error().message + "\n", {}};
  http::Response resp{200, out->content_type, std::move(out->body), {}};
  if (format != "svg") {
    resp.headers["Content-Disposition"] =
        "attachment; filename=\"" + type + (format == "pprof" ? ".pb.gz\"" : ".folded\"");
  }
  return resp;
}

void Daemon::RunUntilSignalled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const auto ms = config_.interval.count();
  timespec tick{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  while (true) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, detaching probes (send it again to stop at once)",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      // A second signal takes its default action in this thread: the kernel then detaches
      // everything with the process, which beats waiting on a shutdown that hangs.
      pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      return;
    }
    Housekeeping();
  }
}

void Daemon::Shutdown() {
  const auto t0 = std::chrono::steady_clock::now();
  auto step = [&](const char* what) {
    spdlog::debug(
        "shutdown: {} done after {} ms", what,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  };
  server_.Stop();
  if (pipeline_) pipeline_->Stop();
  gpu_stop_ = true;
  if (gpu_poller_.joinable()) gpu_poller_.join();
  step("readers");
  if (spans_) spans_->Shutdown();  // bounded final flush
  step("spans");
  std::lock_guard lock(refresh_mu_);
  syscalls_.reset();
  probes_.clear();  // skeleton destroy detaches every link and closes every program
  step("probes");
  profiling_.reset();
  step("profiling");
  gpu_.reset();
  step("gpu");
  pipeline_.reset();
  if (pods_) pods_->stop();
  filter_.reset();
  if (stats_fd_ >= 0) {
    close(stats_fd_);
    stats_fd_ = -1;
  }
  step("all");
}

}  // namespace zerotrace
