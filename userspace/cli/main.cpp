// zerotrace command line: flags and config file in, one subcommand out. Exceptions stop here.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/attach.h"
#include "cli/daemon.h"
#include "cli/flamegraph_command.h"
#include "cli/probe_report.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/metrics_catalog.h"
#include "core/privileges.h"
#include "core/split.h"
#include "core/tracefs.h"
#include "zt_version.h"

namespace {

constexpr int kExitUsage = 2;

// Flags given on the command line; each one, when present, overrides the config file.
struct Overrides {
  std::optional<std::string> listen, log_level, log_format, interval, proc_root;
  std::vector<uint32_t> pids;
  std::vector<std::string> comms;
  std::optional<std::string> probes;
  std::optional<bool> bpf_stats;
  std::optional<bool> propagate_traceparent;
};

zerotrace::Result<zerotrace::Config> BuildConfig(const std::string& config_path,
                                                 const Overrides& o) {
  zerotrace::Config c;
  if (!config_path.empty()) {
    auto loaded = zerotrace::LoadConfigFile(config_path);
    if (!loaded) return loaded.error();
    c = *loaded;
  }
  if (o.listen) c.listen = *o.listen;
  if (o.log_level) c.log_level = *o.log_level;
  if (o.log_format) c.log_format = *o.log_format;
  if (o.proc_root) c.proc_root = *o.proc_root;
  if (o.bpf_stats) c.bpf_stats = *o.bpf_stats;
  if (o.propagate_traceparent) c.otlp.propagate_traceparent = *o.propagate_traceparent;
  if (o.interval) {
    auto d = zerotrace::ParseDuration(*o.interval);
    if (!d) return zerotrace::Error{"--interval: " + d.error().message};
    c.interval = *d;
  }
  if (!o.pids.empty()) c.select.pids = o.pids;
  if (!o.comms.empty()) c.select.comms = o.comms;
  if (o.probes) {
    auto probes = zerotrace::ParseProbeList(*o.probes);
    if (!probes) return probes.error();
    c.probes = *probes;
  }
  if (auto s = zerotrace::Validate(c); !s) return zerotrace::Error{s.message()};
  return c;
}

int RunDaemon(const zerotrace::Config& config) {
  // Signals are taken synchronously by the main loop; block them before any thread starts so
  // no worker thread receives them instead.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  zerotrace::Daemon daemon(config);
  if (auto s = daemon.Start(); !s) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  daemon.RunUntilSignalled();
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

static int Main(int argc, char** argv) {
  CLI::App app{"zerotrace: zero-instrumentation eBPF profiler and collector"};
  app.require_subcommand(1);
  std::string config_path;
  Overrides o;
  app.add_option("--config", config_path, "YAML config file (flags override it)");
  app.add_option("--log-format", o.log_format, "text|json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", o.log_level, "trace|debug|info|warn|error");

  auto* run = app.add_subcommand("run", "Run the collector daemon (metrics on --listen)");
  // A single-valued flag given twice: the last one wins, as in most CLIs (and so a wrapper can
  // append an override to a fixed command line).
  constexpr auto kLastWins = CLI::MultiOptionPolicy::TakeLast;
  run->add_option("--listen", o.listen,
                  "HTTP listen address (default :9464, every IPv6 and IPv4 address)")
      ->multi_option_policy(kLastWins);
  run->add_option("--pid", o.pids, "Trace only this process (repeatable)");
  run->add_option("--comm", o.comms, "Trace only processes with this command name (repeatable)");
  run->add_option("--interval", o.interval, "How often kernel maps are read (default 2s)")
      ->multi_option_policy(kLastWins);
  run->add_option("--proc-root", o.proc_root, "Where the host's /proc is mounted (default /proc)")
      ->envname("ZEROTRACE_PROC_ROOT")
      ->multi_option_policy(kLastWins);
  run->add_option("--bpf-stats", o.bpf_stats,
                  "true|false: kernel BPF run-time statistics for zerotrace_bpf_prog_* (default "
                  "false: a global kernel switch that costs every BPF program on the host two "
                  "clock reads per run)")
      ->multi_option_policy(kLastWins);
  run->add_option("--propagate-traceparent", o.propagate_traceparent,
                  "true|false: insert a W3C traceparent into HTTP/1 requests that traced "
                  "processes send without one (sk_msg; default false; docs/tracing.md)")
      ->multi_option_policy(kLastWins);
  run->add_option("--probes", o.probes,
                  "Comma-separated probes to enable (default: all: "
                  "syscalls,sockets,tls,oncpu,offcpu,cuda,cupti)")
      ->multi_option_policy(kLastWins);

  auto* probe = app.add_subcommand("probe", "Show what this kernel supports and each probe's path");
  bool probe_json = false;
  probe->add_flag("--json", probe_json, "JSON instead of a table");
  bool probe_load = true;
  probe->add_flag("!--no-load", probe_load,
                  "Report kernel features only; do not load each probe to check it");

  auto* attach = app.add_subcommand("attach", "Observe one running process for a while");
  zerotrace::AttachOptions attach_opts;
  std::string attach_duration = "30s";
  std::string attach_profiles;
  attach->add_option("--pid", attach_opts.pid, "Process to observe")->required();
  attach->add_option("--duration", attach_duration, "How long (default 30s)");
  attach->add_option("--out", attach_opts.out_dir, "Directory for output files (default .)");
  attach->add_option("--summary-json", attach_opts.summary_json,
                     "Also write the RED table as JSON to this file");
  attach->add_option("--profile", attach_profiles, "Profiles to record: oncpu,offcpu,gpu");
  attach->add_option("--spans", attach_opts.spans_file,
                     "Write request spans as OTLP JSON lines to this file ('-' = stdout)");
  attach->add_option("--ready-file", attach_opts.ready_file,
                     "Create this file once the probes are attached (scripts wait on it)");
  attach
      ->add_option("--unwind", attach_opts.unwind,
                   "How profiles walk user stacks: cfi (default) or frame_pointers")
      ->check(CLI::IsMember({"cfi", "frame_pointers"}));
  attach->add_option("--proc-root", attach_opts.proc_root, "Where /proc is mounted")
      ->envname("ZEROTRACE_PROC_ROOT");

  auto* fg =
      app.add_subcommand("flamegraph", "Convert folded stacks to an SVG flamegraph or pprof");
  std::string fg_in, fg_out, fg_type = "oncpu", fg_title;
  fg->add_option("input", fg_in, "Folded stacks file ('-' for stdin)")->required();
  fg->add_option("-o,--output", fg_out, "Output: .svg, .pb.gz (pprof) or .folded")->required();
  fg->add_option("--type", fg_type, "What the values mean: oncpu (samples), offcpu|gpu (ns)")
      ->check(CLI::IsMember({"oncpu", "offcpu", "gpu"}));
  fg->add_option("--title", fg_title, "SVG title");

  auto* metrics_cmd =
      app.add_subcommand("metrics", "Print the catalog of exported metrics (docs/metrics.md)");
  std::string metrics_format = "markdown";
  metrics_cmd->add_option("--format", metrics_format, "markdown | json")
      ->check(CLI::IsMember({"markdown", "json"}));

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  auto config = BuildConfig(config_path, o);
  if (!config) {
    std::fprintf(stderr, "zerotrace: %s\n", config.error().message.c_str());
    return kExitUsage;
  }
  if (auto s = zerotrace::SetupLogging(config->log_format, config->log_level); !s) {
    std::fprintf(stderr, "zerotrace: %s\n", s.message().c_str());
    return kExitUsage;
  }

  if (app.got_subcommand("version")) {
    std::printf("zerotrace %s (%s)\n", ZT_VERSION, ZT_GIT_COMMIT);
    return 0;
  }
  if (app.got_subcommand("metrics")) {
    std::fputs(metrics_format == "json" ? zerotrace::metrics::RenderJson().c_str()
                                        : zerotrace::metrics::RenderMarkdown().c_str(),
               stdout);
    return 0;
  }
  if (app.got_subcommand("probe")) {
    // Tracepoint probing needs tracefs; without it the answer would be a misleading "no".
    if (auto t = zerotrace::EnsureTracefsMounted(); !t) spdlog::warn("{}", t.error().message);
    auto features = zerotrace::MakeFeatures();
    // Loading the probes is the only proof a kernel takes them; it needs root.
    std::vector<zerotrace::ProbeCheck> checks;
    if (probe_load) {
      if (auto s = zerotrace::CheckBpfPrivileges(); s) {
        zerotrace::RaiseMemlockLimit();
        checks = zerotrace::CheckProbes(*features);
      } else {
        spdlog::warn("not loading the probes ({}): the report shows kernel features only",
                     s.message());
      }
    }
    std::fputs(probe_json ? zerotrace::ProbeReportJson(*features, checks).c_str()
                          : zerotrace::ProbeReportTable(*features, checks).c_str(),
               stdout);
    return 0;
  }
  if (app.got_subcommand("flamegraph")) {
    return zerotrace::ConvertFlamegraph(fg_in, fg_out, fg_type, fg_title);
  }
  if (app.got_subcommand("attach")) {
    auto d = zerotrace::ParseDuration(attach_duration);
    if (!d) {
      std::fprintf(stderr, "zerotrace: --duration: %s\n", d.error().message.c_str());
      return kExitUsage;
    }
    attach_opts.duration = *d;
    for (const std::string& name : zerotrace::SplitList(attach_profiles)) {
      if (name != "oncpu" && name != "offcpu" && name != "gpu") {
        std::fprintf(stderr, "zerotrace: --profile: unknown profile '%s' (oncpu, offcpu, gpu)\n",
                     name.c_str());
        return kExitUsage;
      }
      attach_opts.profiles.push_back(name);
    }
    return zerotrace::RunAttach(attach_opts);
  }
  return RunDaemon(*config);
}

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    // Every expected failure is a returned error; this is a bug, but it still gets a message.
    std::fprintf(stderr, "zerotrace: internal error: %s\n", e.what());
    return 1;
  }
}
