#include "parsers_fuzz_targets.h"

#include <fcntl.h>
#include <prometheus/registry.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "aggregators/conn_tracker.h"
#include "cli/flamegraph_query.h"
#include "core/config.h"
#include "gpu/gpu_aggregator.h"
#include "http/http_server.h"
#include "k8s/cgroup_parser.h"
#include "k8s/pod_metadata_client.h"
#include "otlp/otlp_options.h"
#include "process/process_catalog.h"
#include "python/interpreter.h"
#include "python/location_table.h"
#include "symbolizer/build_id.h"
#include "symbolizer/elf_symbols.h"
#include "symbolizer/perf_map.h"
#include "symbolizer/proc_maps.h"
#include "unwind/cfi_rows.h"

namespace zerotrace::fuzz {
namespace {

namespace fs = std::filesystem;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

std::string_view Text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads the input front to back; past its end every read gives zeros, so a structured input can
// be decoded from any bytes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  std::string_view Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string_view out(reinterpret_cast<const char*>(data_) + pos_, n);
    pos_ += n;
    return out;
  }
  std::string_view Rest() { return Bytes(size_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A folder of this process's own under $TMPDIR for the file-based readers, removed at exit so
// repeated runs leave nothing behind. The path is never destroyed: the exit handler still reads
// it after static destructors have run.
const fs::path& ScratchDir() {
  static const fs::path* dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "zt-fuzz-XXXXXX").string();
    Check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    const auto* path = new fs::path(tmpl);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(ScratchDir(), ec);
    });
    return path;
  }();
  return *dir;
}

void WriteFile(const fs::path& p, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

// Input: the ELF file, optionally followed by kDebugMarker and its separate debug file, which is
// put where the main file's build id sends the reader (the debug-link folders are tried too).
int FuzzElf(const uint8_t* data, size_t size) {
  // Sized explicitly: the marker holds NULs.
  static constexpr std::string_view kDebugMarker("\0ZT-DEBUG\0", 10);
  std::string_view in = Text(data, size);
  std::string_view main = in;
  std::string_view debug;
  if (size_t at = in.find(kDebugMarker); at != std::string_view::npos) {
    main = in.substr(0, at);
    debug = in.substr(at + kDebugMarker.size());
  }
  const fs::path& root = ScratchDir();
  std::error_code ec;
  fs::remove_all(root / "dbg", ec);
  WriteFile(root / "bin" / "prog", main);
  if (!debug.empty()) {
    auto id = symbolizer::ReadBuildId((root / "bin" / "prog").string());
    if (id.ok() && id.value().size() > 2 && id.value().size() < 200) {
      WriteFile(
          root / "dbg" / ".build-id" / id.value().substr(0, 2) / (id.value().substr(2) + ".debug"),
          debug);
    }
  }
  const auto symbols = symbolizer::ElfSymbols::Load({root.string(), "/bin/prog"}, {"/dbg"});
  Check(symbols.size() == 0 || symbols.memory_bytes() > 0, "symbols take memory");
  for (uint64_t off : {uint64_t{0}, uint64_t{0x40}, uint64_t{0x1000}, uint64_t{0x1234},
                       uint64_t{size / 2}, ~uint64_t{0}}) {
    if (auto name = symbols.FunctionAt(off)) Check(!name->empty(), "named function");
  }
  // The same file's .eh_frame through the stack walker's converter: rows sorted, bounded.
  const int fd = open((root / "bin" / "prog").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    auto rows = unwind::ReadCfiRows(fd);
    close(fd);
    if (rows.ok()) {
      Check(rows->rows.size() <= ZT_UNWIND_MAX_ROWS_PER_FILE, "rows bounded");
      for (size_t i = 1; i < rows->rows.size(); ++i) {
        Check(rows->rows[i - 1].pc < rows->rows[i].pc, "rows sorted by pc");
      }
    }
  }
  // And as a CPython interpreter (any file a container names python3.N is read so).
  const int py = open((root / "bin" / "prog").c_str(), O_RDONLY | O_CLOEXEC);
  if (py >= 0) {
    auto interp = python::InspectInterpreterFile(py, 11);
    close(py);
    if (interp.ok()) {
      Check(interp->eval_end > interp->eval_start, "eval range not empty");
      Check(interp->cold_end >= interp->cold_start, "cold range ordered");
    }
  }
  return 0;
}

int FuzzPerfMap(const uint8_t* data, size_t size) {
  symbolizer::PerfMapParser::Stats stats;
  const auto map = symbolizer::PerfMapParser::Parse(Text(data, size), &stats);
  Check(stats.bad_lines <= stats.lines, "bad lines <= lines");
  Check(map.size() <= stats.lines, "entries <= lines");
  Reader r(data, size);
  for (int i = 0; i < 8 && !r.empty(); ++i) {
    uint64_t addr = 0;
    for (int b = 0; b < 8; ++b) addr = (addr << 8) | r.U8();
    if (const auto* e = map.Find(addr)) Check(e->start <= addr, "found entry starts at or below");
  }
  return 0;
}

int FuzzProcMaps(const uint8_t* data, size_t size) {
  const auto maps = symbolizer::ProcMaps::Parse(Text(data, size));
  const auto& entries = maps.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) Check(entries[i - 1].start <= entries[i].start, "sorted by address");
    const auto* e = maps.Find(entries[i].start);
    (void)symbolizer::FallbackFrame(e, entries[i].start);
    (void)entries[i].executable();
    (void)entries[i].file_backed();
  }
  (void)symbolizer::FallbackFrame(maps.Find(0x7f0000001000), 0x7f0000001000);
  return 0;
}

int FuzzEnviron(const uint8_t* data, size_t size) {
  const std::string blob(Text(data, size));
  const auto name = OtelServiceName(blob);
  if (name) Check(!name->empty(), "OTEL_SERVICE_NAME non-empty");
  const std::string resolved = ResolveServiceName(blob, std::nullopt, "exe", "comm");
  Check(!resolved.empty(), "a service name always results");
  return 0;
}

// A CPython code object's line table as read from a traced process: 4 bytes of first line, 2 of
// code-unit index, 1 of format (3.11+, 3.10, 3.8/3.9), then the table.
int FuzzPythonLineTable(const uint8_t* data, size_t size) {
  if (size < 7) return 0;
  int32_t first = 0;
  uint16_t index = 0;
  std::memcpy(&first, data, sizeof(first));
  std::memcpy(&index, data + 4, sizeof(index));
  const auto format = static_cast<python::LineTableFormat>(data[6] % 3);
  const std::string_view table = Text(data + 7, size - 7);
  const int line = python::LineOfCodeUnit(format, table, first, index);
  if (table.empty() && format != python::LineTableFormat::kLnotab) {
    Check(line == -1, "no table, no line");
  }
  return 0;
}

int FuzzCgroup(const uint8_t* data, size_t size) {
  const std::string_view text = Text(data, size);
  if (auto info = zerotrace::k8s::CgroupParser::Parse(text)) {
    Check(info->container_id.empty() ||
              zerotrace::k8s::CgroupParser::IsContainerId(info->container_id),
          "container id shape");
    (void)zerotrace::k8s::ToString(info->runtime);
    (void)zerotrace::k8s::ToString(info->qos);
  }
  (void)zerotrace::k8s::CgroupParser::ParsePath(text);
  (void)zerotrace::k8s::CgroupParser::IsPodUid(text);
  return 0;
}

int FuzzPodJson(const uint8_t* data, size_t size) {
  zerotrace::k8s::PodIndex index;
  std::string error;
  const bool ok = zerotrace::k8s::ParsePodList(Text(data, size), "node-1", index, &error);
  Check(ok || !error.empty(), "a rejected document says why");
  for (const auto& [id, meta] : index.by_container_id) {
    // Stored without their scheme and lower-cased ("a://b://C" is stored as "b://c").
    Check(std::none_of(id.begin(), id.end(), [](char c) { return c >= 'A' && c <= 'Z'; }),
          "ids stored lower-case");
    (void)meta;
  }
  // A second page merged into the same index, as a paginated refresh does.
  (void)zerotrace::k8s::ParsePodList(Text(data, size / 2), "", index, nullptr);
  (void)zerotrace::k8s::StripContainerIdScheme(Text(data, size));
  return 0;
}

int FuzzConfig(const uint8_t* data, size_t size) {
  const std::string text(Text(data, size));
  auto config = LoadConfigText(text, "fuzz");
  if (config.ok()) (void)Validate(config.value());
  (void)ParseDuration(text);
  (void)ParseListenAddress(text);
  return 0;
}

namespace {

// Consumes what the tracker hands out and checks it.
class CheckingConsumer : public RequestConsumer, public RequestStartObserver {
 public:
  void OnRequest(const protocols::RequestRecord& r, const ConnMeta& conn) override {
    Check(r.start_ns <= r.end_ns, "start_ns <= end_ns");
    bytes += r.path.size() + conn.service.size() + conn.remote_addr.size();
  }
  void OnLost(protocols::Protocol, protocols::Role, protocols::LossReason, uint64_t requests,
              const ConnMeta&) override {
    lost += requests;
  }
  void OnRequestStart(const RequestStart& s, const ConnMeta&) override {
    bytes += s.traceparent.size() + s.tracestate.size();
  }
  size_t bytes = 0;
  uint64_t lost = 0;
};

}  // namespace

// Input: events, each 9 control bytes and then its captured bytes:
//   c0: bits 0-1 type (OPEN DATA CLOSE EXEC), 2 direction, 3-4 role, 5 IPv6, 6-7 process (of 3)
//   c1: bits 0-1 fd (of 4), 2-3 generation (of 4), 4 STREAM_OFF, 5 H2_FRAMED, 6 SEGMENT,
//       7 sweep dead processes after the event
//   c2-c3: captured length (little endian, at most 4095)
//   c4: stream offset: the direction's running offset plus (int8) c4 * 7: gaps and late events
//   c5: uncaptured bytes of the call: c5 * 97 (a body the kernel did not copy)
//   c6: captured_from; c7: bits 0-5 segments still to come, 6-7 time step (1 ns .. 0.2 s)
//   c8: bit 0 SND_SEQ; the socket's write_seq: the bytes written so far (+ size for a write),
//       plus (int8) c8 >> 1 times 13 for a read: replies ahead of their writes, or behind
// So both directions, reordering, gaps, reused fds and generations are a few bit flips away.
int FuzzConnTracker(const uint8_t* data, size_t size) {
  ProcessCatalog catalog((ScratchDir() / "no-proc").string());
  ConnTracker tracker(catalog, /*max_connections=*/8, /*max_routes_per_service=*/8);
  CheckingConsumer consumer;
  tracker.AddConsumer(&consumer);
  Reader r(data, size);
  uint64_t ts = 1'000'000'000;
  uint64_t offsets[3][4][2] = {};  // process, fd, direction
  uint32_t sent[3][4] = {};        // process, fd: write_seq
  static constexpr uint64_t kSteps[4] = {1, 1000, 1'000'000, 200'000'000};
  while (!r.empty()) {
    const uint8_t c0 = r.U8(), c1 = r.U8();
    const uint16_t len = r.U16() & 0xfff;
    const int8_t off_delta = static_cast<int8_t>(r.U8());
    const uint8_t c5 = r.U8(), c6 = r.U8(), c7 = r.U8(), c8 = r.U8();
    const std::string_view bytes = r.Bytes(len);
    sock_event_header h{};
    h.type = static_cast<uint8_t>(1 + (c0 & 3));
    h.direction = (c0 >> 2) & 1;
    h.role = (c0 >> 3) & 3;
    h.family = (c0 & 0x20) ? AF_INET6 : AF_INET;
    const unsigned proc = ((c0 >> 6) & 3) % 3;
    h.tgid = 100 + proc;
    h.tid = h.tgid + (c7 & 1);
    h.fd = c1 & 3;
    h.gen = 1 + ((c1 >> 2) & 3);
    h.flags = (c1 >> 4) & 7;
    h.captured = static_cast<uint32_t>(bytes.size());
    h.captured_from = c6;
    h.size = h.captured + h.captured_from + static_cast<uint64_t>(c5) * 97;
    h.segments = c7 & 0x3f;
    ts += kSteps[c7 >> 6];
    h.ts = ts;
    h.lport = 8080;
    h.rport = static_cast<uint16_t>(40000 + h.fd);
    h.laddr[0] = 127;
    h.raddr[0] = 10;
    std::memcpy(h.comm, "fuzz", 5);
    uint64_t& off = offsets[proc][h.fd][h.direction];
    h.stream_off = off_delta < 0 && static_cast<uint64_t>(-off_delta * 7) > off
                       ? 0
                       : off + static_cast<int64_t>(off_delta) * 7;
    if (h.type == SOCK_EVENT_DATA && !(h.flags & SOCK_EV_SEGMENT)) {
      off = h.stream_off + h.size;
    }
    if (c8 & 1) {
      uint32_t& seq = sent[proc][h.fd];
      if (h.type == SOCK_EVENT_DATA && h.direction == SOCK_DIR_EGRESS) {
        seq += static_cast<uint32_t>(h.size);
      }
      h.flags |= SOCK_EV_SND_SEQ;
      h.snd_seq = seq;
      if (h.type == SOCK_EVENT_DATA && h.direction == SOCK_DIR_INGRESS) {
        h.snd_seq += static_cast<uint32_t>((static_cast<int8_t>(c8) >> 1) * 13);
      }
    }
    tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(bytes.data()));
    Check(tracker.connections() <= 8, "connection bound");
    if (c1 & 0x80) {
      tracker.SweepDead(ts, 0);
      tracker.SweepHeld(ts);
    }
  }
  tracker.SweepHeld(ts + SendOrder::kMaxHoldNs);
  tracker.SweepClosed(ts + ConnTracker::kCloseLingerNs + 1);
  (void)tracker.TakeParserCounters();
  return 0;
}

// Input: records, each a control byte (bit 0: CUDA driver event, else CUPTI), a 16-bit length and
// that many bytes handed to the aggregator as one ring buffer record (short ones included: the
// aggregator must check sizes itself). Launch stacks are answered from the correlation id.
int FuzzCupti(const uint8_t* data, size_t size) {
  prometheus::Registry registry;
  ProcessCatalog catalog((ScratchDir() / "no-proc").string());
  gpu::GpuSources sources;
  auto stack = [](int32_t id) -> std::vector<uint64_t> {
    if (id < 0) return {};
    return {0x401000u + static_cast<uint64_t>(id), 0x402000, 0x7f0000001000};
  };
  sources.cuda_stack = stack;
  sources.cupti_stack = stack;
  sources.take_launch = [](uint32_t tgid,
                           uint32_t correlation) -> std::optional<cupti_launch_info> {
    if (correlation % 3 == 0) return std::nullopt;
    cupti_launch_info info{};
    info.ustack_id = static_cast<int32_t>(correlation % 5) - 1;
    (void)tgid;
    return info;
  };
  sources.has_injector = [](uint32_t tgid) { return tgid % 2 == 0; };
  gpu::GpuAggregatorOptions options;
  options.max_trace_slices = 64;
  options.max_profile_stacks = 16;
  options.max_allocations_per_process = 64;
  options.max_kernels_per_service = 4;
  gpu::GpuAggregator agg(registry, catalog, sources, options);
  const auto rec = agg.StartRecording();
  Reader r(data, size);
  std::vector<uint8_t> buf;
  while (!r.empty()) {
    const uint8_t ctl = r.U8();
    const std::string_view bytes = r.Bytes(r.U16() & 0x3ff);
    buf.assign(bytes.begin(), bytes.end());  // a copy of its own: ASan sees reads past its end
    if (ctl & 1) {
      agg.OnCudaEvent(buf.data(), buf.size());
    } else {
      agg.OnCuptiEvent(buf.data(), buf.size());
    }
  }
  (void)agg.StopRecording(rec);
  (void)agg.Profile();
  (void)agg.ChromeTrace();
  (void)agg.LeakReport(3);
  return 0;
}

// Input: NUL-separated values of the OTEL_* variables, in the order of kVars (an empty value is
// unset).
int FuzzOtlpOptions(const uint8_t* data, size_t size) {
  static constexpr const char* kVars[] = {"OTEL_EXPORTER_OTLP_ENDPOINT",
                                          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                          "OTEL_EXPORTER_OTLP_HEADERS",
                                          "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                                          "OTEL_EXPORTER_OTLP_COMPRESSION",
                                          "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                                          "OTEL_EXPORTER_OTLP_PROTOCOL",
                                          "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                          "OTEL_EXPORTER_OTLP_TIMEOUT",
                                          "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                                          "OTEL_SERVICE_NAME",
                                          "OTEL_BSP_MAX_QUEUE_SIZE",
                                          "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                          "OTEL_BSP_SCHEDULE_DELAY"};
  std::map<std::string, std::string> env;
  std::string_view in = Text(data, size);
  for (const char* var : kVars) {
    const size_t nul = in.find('\0');
    const std::string_view value = in.substr(0, nul);
    if (!value.empty()) env[var] = std::string(value);
    if (nul == std::string_view::npos) break;
    in.remove_prefix(nul + 1);
  }
  auto lookup = [&env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto options = otlp::OtlpExporterOptions::FromEnvironment({}, lookup);
  if (options.ok()) Check(!options->TracesUrl().empty(), "a traces URL");
  (void)otlp::ParseOtlpHeaders(Text(data, size));
  return 0;
}

// Input: the query string of a /flamegraph request, as the HTTP server receives it.
int FuzzFlamegraphQuery(const uint8_t* data, size_t size) {
  const auto query = http::ParseQuery(std::string(Text(data, size)));
  auto q = ParseFlamegraphQuery(query);
  if (q.ok()) {
    Check(q->seconds >= 1 && q->seconds <= 300, "seconds in 1..300");
    Check(q->type == "oncpu" || q->type == "offcpu" || q->type == "gpu", "known type");
  } else {
    Check(!q.error().message.empty(), "error says why");
  }
  return 0;
}

}  // namespace zerotrace::fuzz
