#include "core/features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/split.h"
#include "features.skel.h"

namespace zerotrace {
namespace {

using SkelPtr = std::unique_ptr<features_bpf, decltype(&features_bpf__destroy)>;

// Loads and attaches exactly one program of features.bpf.c. Attaching matters: fentry programs
// load on kernels whose trampolines then refuse to attach.
FeatureAnswer TryProgram(const char* prog_name) {
  // Failed probes are expected; their verifier noise is not useful. The caller's printer is put
  // back: features are probed lazily, and a real probe's load failure must still be explained.
  struct QuietLibbpf {
    libbpf_print_fn_t saved = libbpf_set_print(nullptr);
    ~QuietLibbpf() { libbpf_set_print(saved); }
  } quiet;
  SkelPtr skel(features_bpf__open(), features_bpf__destroy);
  if (!skel) return {false, "cannot open feature-probe object"};
  bpf_program* target = nullptr;
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    const bool match = std::strcmp(bpf_program__name(p), prog_name) == 0;
    bpf_program__set_autoload(p, match);
    if (match) target = p;
  }
  if (!target) return {false, "no such probe program"};
  if (int err = features_bpf__load(skel.get()); err) {
    return {false, std::string("load failed: ") + std::strerror(-err)};
  }
  bpf_link* link = bpf_program__attach(target);
  if (!link) return {false, std::string("attach failed: ") + std::strerror(errno)};
  bpf_link__destroy(link);
  return {true, "loaded and attached a test program"};
}

bool FileExists(const char* path) { return access(path, F_OK) == 0; }

class KernelFeatureProber : public FeatureProber {
 public:
  FeatureAnswer Probe(Feature f) override {
    switch (f) {
      case Feature::kBtf:
        return FileExists("/sys/kernel/btf/vmlinux")
                   ? FeatureAnswer{true, "/sys/kernel/btf/vmlinux"}
                   : FeatureAnswer{false,
                                   "no /sys/kernel/btf/vmlinux (kernel built without "
                                   "CONFIG_DEBUG_INFO_BTF)"};
      case Feature::kRingBuffer: {
        // 0: the kernel does not know the map type; < 0: it could not even try (privileges).
        const int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
        if (r == 1) return {true, "BPF_MAP_TYPE_RINGBUF"};
        if (r == 0) return {false, "BPF_MAP_TYPE_RINGBUF unknown to this kernel (older than 5.8)"};
        return {false, std::string("cannot create a BPF map: ") + std::strerror(-r) +
                           " (run as root or with CAP_BPF)"};
      }
      case Feature::kTracepoint:
        return TryProgram("probe_tracepoint");
      case Feature::kRawTracepoint:
        return TryProgram("probe_raw_tp");
      case Feature::kTpBtf:
        return TryProgram("probe_tp_btf");
      case Feature::kSockTracepoints:
        return TryProgram("probe_sock_tp");
      case Feature::kFentry:
        return TryProgram("probe_fentry");
      case Feature::kKprobe:
        if (!FileExists("/sys/bus/event_source/devices/kprobe/type")) {
          return {false, "no kprobe PMU (CONFIG_KPROBES off)"};
        }
        return TryProgram("probe_kprobe");
      case Feature::kUprobe:
        return FileExists("/sys/bus/event_source/devices/uprobe/type")
                   ? FeatureAnswer{true, "uprobe PMU present"}
                   : FeatureAnswer{false, "no uprobe PMU (CONFIG_UPROBE_EVENTS off)"};
      case Feature::kPerfEvent: {
        perf_event_attr attr{};
        attr.type = PERF_TYPE_SOFTWARE;
        attr.size = sizeof(attr);
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.sample_freq = 49;
        attr.freq = 1;
        int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
        if (fd < 0) return {false, std::string("perf_event_open: ") + std::strerror(errno)};
        close(fd);
        return {true, "software cpu-clock event opened"};
      }
      case Feature::kBpfStats: {
        int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
        if (fd < 0) return {false, std::string("BPF_ENABLE_STATS: ") + std::strerror(errno)};
        close(fd);
        return {true, "BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)"};
      }
      case Feature::kBpfLoop: {
        const int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, nullptr);
        if (r == 1) return {true, "bpf_loop() helper"};
        if (r == 0) return {false, "no bpf_loop() helper (kernel older than 5.17)"};
        return {false, std::string("cannot probe the bpf_loop() helper: ") + std::strerror(-r)};
      }
      case Feature::kTaskBtf:
        return TryProgram("probe_task_btf");
      case Feature::kBpfCookie: {
        const int r =
            libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, nullptr);
        if (r == 1) return {true, "bpf_get_attach_cookie() helper"};
        if (r == 0) return {false, "no BPF cookies (kernel older than 5.15)"};
        return {false, std::string("cannot probe BPF cookies: ") + std::strerror(-r)};
      }
      case Feature::kCount:
        break;
    }
    return {false, "unknown feature"};
  }
};

}  // namespace

const char* FeatureName(Feature f) {
  switch (f) {
    case Feature::kBtf:
      return "btf";
    case Feature::kRingBuffer:
      return "ring_buffer";
    case Feature::kTracepoint:
      return "tracepoint";
    case Feature::kRawTracepoint:
      return "raw_tracepoint";
    case Feature::kTpBtf:
      return "tp_btf";
    case Feature::kSockTracepoints:
      return "sock_tracepoints";
    case Feature::kUprobe:
      return "uprobe";
    case Feature::kPerfEvent:
      return "perf_event";
    case Feature::kKprobe:
      return "kprobe";
    case Feature::kFentry:
      return "fentry";
    case Feature::kBpfStats:
      return "bpf_stats";
    case Feature::kBpfLoop:
      return "bpf_loop";
    case Feature::kTaskBtf:
      return "task_btf";
    case Feature::kBpfCookie:
      return "bpf_cookie";
    case Feature::kCount:
      break;
  }
  return "unknown";
}

std::unique_ptr<FeatureProber> MakeKernelFeatureProber() {
  return std::make_unique<KernelFeatureProber>();
}

std::vector<Feature> ParseFeatureList(const std::string& list, std::string* unknown) {
  std::vector<Feature> out;
  for (const std::string& name : SplitList(list)) {
    bool found = false;
    for (int i = 0; i < static_cast<int>(Feature::kCount); ++i) {
      if (name == FeatureName(static_cast<Feature>(i))) {
        out.push_back(static_cast<Feature>(i));
        found = true;
      }
    }
    if (!found && unknown) *unknown += (unknown->empty() ? "" : ",") + name;
  }
  return out;
}

Features::Features(std::unique_ptr<FeatureProber> prober, std::vector<Feature> disabled)
    : prober_(std::move(prober)), disabled_(std::move(disabled)) {}

const FeatureAnswer& Features::Answer(Feature f) {
  std::lock_guard lock(mu_);
  auto& slot = cache_[static_cast<size_t>(f)];
  if (!slot && std::find(disabled_.begin(), disabled_.end(), f) != disabled_.end()) {
    slot = FeatureAnswer{false, "disabled by ZEROTRACE_DISABLE_FEATURES"};
  }
  if (!slot) slot = prober_->Probe(f);
  return *slot;
}

bool Features::Has(Feature f) { return Answer(f).supported; }

}  // namespace zerotrace
