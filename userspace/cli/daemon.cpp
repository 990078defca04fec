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

#include "cli/flamegraph_query.h"
#include "core/expiring_series.h"
#include "core/metric_family.h"
#include "core/privileges.h"
#include "core/tracefs.h"
#include "core/utf8.h"
#include "probes/bpf_util.h"
#include "sources/gpu_source.h"
#include "sources/profiling_source.h"
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
      zerotrace::k8s::PodMetadataClientOptions::FromEnv());
  K8sResolver k8s;
  if (pods_->enabled()) {
    pods_->Start();
    k8s = [this](uint32_t pid) -> std::optional<K8sIdentity> {
      auto m = pods_->LookupPid(static_cast<int>(pid), config_.proc_root);
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
  StartSources();

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

void Daemon::StartSources() {
  auto& attached = GaugeFamily(*registry_, "zerotrace_probe_attached");
  auto& mode = GaugeFamily(*registry_, "zerotrace_probe_attach_mode");
  auto& lost = CounterFamily(*registry_, "zerotrace_events_lost_total");
  auto& stacks_lost = CounterFamily(*registry_, "zerotrace_stacks_lost_total");
  auto& uprobe_targets = GaugeFamily(*registry_, "zerotrace_uprobe_targets");

  sources_ = SourceSet::Start({config_, *features_, *filter_, *catalog_, *registry_});
  for (const auto& source : sources_.all()) {
    for (auto& state : source->probes()) {
      ProbeSlot slot;
      slot.state = std::move(state);
      const ProbeState& p = slot.state;
      if (p.attached) {
        spdlog::info("probe {} attached ({})", p.name, p.probe->attach_mode());
      } else {
        spdlog::error("probe {} not attached: {}", p.name, p.error);
      }
      const std::string how = p.probe ? p.probe->attach_mode() : "unavailable";
      attached.Add({{"probe", p.name}}).Set(p.attached ? 1 : 0);
      mode.Add({{"probe", p.name}, {"mode", how}}).Set(1);
      slot.lost = std::make_unique<CumulativeCounter>(lost.Add({{"probe", p.name}}));
      if (p.stacks_lost) {
        slot.stacks_lost =
            std::make_unique<CumulativeCounter>(stacks_lost.Add({{"probe", p.name}}));
      }
      if (p.attached && p.attaches_uprobes) {
        slot.uprobe_targets = &uprobe_targets.Add({{"probe", p.name}});
      }
      probes_.push_back(std::move(slot));
    }
  }
}

void Daemon::Refresh() {
  std::lock_guard lock(refresh_mu_);
  for (const auto& source : sources_.all()) source->Refresh();
  self_metrics_->Update();
  auto& run_seconds = CounterFamily(*registry_, "zerotrace_bpf_prog_run_seconds_total");
  auto& runs = CounterFamily(*registry_, "zerotrace_bpf_prog_runs_total");
  for (auto& slot : probes_) {
    if (!slot.state.attached) continue;
    slot.lost->Update(slot.state.probe->events_lost());
    if (slot.stacks_lost) slot.stacks_lost->Update(slot.state.stacks_lost());
    if (stats_fd_ < 0) continue;
    for (const auto& st : ReadProgramStats(slot.state.probe->object())) {
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
      slot.uprobe_targets->Set(static_cast<double>(slot.state.probe->uprobe_targets()));
    }
  }
}

void Daemon::Housekeeping() {
  const auto t0 = std::chrono::steady_clock::now();
  Refresh();
  const auto t1 = std::chrono::steady_clock::now();
  Source::Tick tick;
  // New libraries (libcuda, the CUPTI injector, libssl) are found by reading every process's
  // maps, which costs hundreds of ms on a busy node: every 5th tick is soon enough.
  tick.scan_libraries = tick_++ % 5 == 0;
  tick.exited = catalog_->Sweep();
  tick.now_ns = SteadyNs();
  for (const auto& source : sources_.all()) source->Housekeeping(tick);
  const auto t2 = std::chrono::steady_clock::now();
  UpdateUprobeTargets();  // what the scans attached shows now, not one tick later
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  spdlog::debug("tick: refresh {} ms, sources {} ms{}", ms(t1 - t0), ms(t2 - t1),
                tick.scan_libraries ? " (library scans)" : "");
  // glibc keeps freed memory in its arenas (one per thread that allocated), so bursts (a kallsyms
  // re-read, an OTLP outage's queue, a symbol table loaded and evicted) stay in RSS after they
  // are freed. Once a minute, give it back: RSS then follows what is live (the soak's ±10 % rule).
  if (const auto now = std::chrono::steady_clock::now();
      now - last_trim_ >= std::chrono::minutes(1)) {
    last_trim_ = now;
    malloc_trim(0);
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
    const ProbeState& s = slot.state;
    nlohmann::json p{{"state", s.attached ? "attached" : "failed"},
                     {"mode", s.probe ? s.probe->attach_mode() : "unavailable"}};
    if (!s.attached) p["error"] = s.error;
    // Program ids let an operator (and the shutdown test) find exactly our programs in bpftool.
    p["program_ids"] = nlohmann::json::array();
    if (s.probe) {
      for (const auto& prog : ReadProgramStats(s.probe->object())) {
        p["program_ids"].push_back(prog.id);
      }
    }
    j["probes"][s.name] = p;
    ready = ready && s.attached;
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
  auto* gpu_source = sources_.Find<GpuSource>();
  gpu::GpuTracing* gpu = gpu_source ? gpu_source->tracing() : nullptr;
  auto* profiling_source = sources_.Find<ProfilingSource>();
  profiling::ProfilingService* profiling = profiling_source ? profiling_source->service() : nullptr;
  if (type == "gpu" && !gpu) {
    return {503, "text/plain", "GPU tracing is not running (probes cuda/cupti)\n", {}};
  }
  if (type != "gpu" && (!profiling || !(type == "oncpu" ? profiling->oncpu() != nullptr
                                                        : profiling->offcpu() != nullptr))) {
    return {503, "text/plain", type + " profiling is not running (probes " + type + ")\n", {}};
  }
  // Stops early when the daemon stops or the client gave up (its recording has no reader).
  auto stop = [this, &r] { return server_.stopping() || r.client_gone(); };
  Result<profiling::RenderedProfile> out = Error{""};
  if (type == "gpu") {
    std::set<uint32_t> pids;
    if (pid) pids.insert(pid);
    auto profile =
        gpu->Record(std::chrono::seconds(seconds), pids, std::chrono::milliseconds(200), stop);
    out = profiling::RenderProfile(profile, format, "GPU flamegraph (CPU launch stack + kernel)");
  } else {
    out = profiling->Record(type, std::chrono::seconds(seconds), pid, format, stop);
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
  sources_.Stop();  // reader threads joined, spans flushed (bounded)
  step("readers and spans");
  std::lock_guard lock(refresh_mu_);
  probes_.clear();
  sources_.Clear();  // skeleton destroy detaches every link and closes every program
  step("sources");
  if (pods_) pods_->Stop();
  filter_.reset();
  if (stats_fd_ >= 0) {
    close(stats_fd_);
    stats_fd_ = -1;
  }
  step("all");
}

}  // namespace zerotrace
