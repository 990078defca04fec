// End to end: real on-CPU and off-CPU BPF probes profiling real processes whose hot and blocking
// functions are known, through symbolization to the folded, SVG and pprof files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "core/gzip.h"
#include "flamegraph/folded.h"
#include "flamegraph/profile.pb.h"
#include "profile/profile.h"
#include "profiling/attach_profiles.h"
#include "profiling/profile_collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

using profile::FrameKind;
using profile::Profile;
using profile::StackSample;

bool HasFunction(const StackSample& s, const std::string& name) {
  return std::any_of(s.frames.begin(), s.frames.end(),
                     [&](const profile::Frame& f) { return f.function == name; });
}

bool HasKernelSchedulingFrame(const StackSample& s) {
  static const std::set<std::string> kNames = {"schedule", "__schedule", "do_nanosleep",
                                               "schedule_hrtimeout_range"};
  return std::any_of(s.frames.begin(), s.frames.end(), [](const profile::Frame& f) {
    return f.kind == FrameKind::kKernel && kNames.count(f.function);
  });
}

uint64_t ValueFor(const Profile& p, uint32_t pid,
                  const std::function<bool(const StackSample&)>& pred) {
  uint64_t v = 0;
  for (const auto& s : p.samples) {
    if (s.pid == pid && pred(s)) v += s.value;
  }
  return v;
}

std::string Describe(const Profile& p, size_t max_lines = 15) {
  std::string out;
  Profile copy = p;
  std::sort(copy.samples.begin(), copy.samples.end(),
            [](const StackSample& a, const StackSample& b) { return a.value > b.value; });
  for (size_t i = 0; i < copy.samples.size() && i < max_lines; ++i) {
    out += flamegraph::FoldedWriter::StackLine(copy.samples[i]) + " " +
           std::to_string(copy.samples[i].value) + "\n";
  }
  return out;
}

// Parses the SVG with Python's XML parser and prints the text of every <title>.
std::string SvgTitles(const std::string& path) {
  const std::string out = TempDir() + "/titles.txt";
  const std::string cmd =
      "python3 -c \"import sys, xml.etree.ElementTree as ET\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "print('\\n'.join(e.text or '' for e in root.iter() if e.tag.endswith('title')))\" " +
      path + " > " + out;
  if (std::system(cmd.c_str()) != 0) return "XML PARSE FAILED";
  return ReadFileOrEmpty(out);
}

TEST(ProfilingBpfTest, OnCpuProfileOfBurnCpuNamesTheHotFunctionInEveryFormat) {
  ZT_REQUIRE_BPF();
  Child burner({ZT_BURN_CPU, "8"});
  ASSERT_EQ(burner.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(burner.pid());

  profiling::AttachProfilesOptions o;
  o.pids = {pid};
  o.duration = std::chrono::seconds(3);
  o.offcpu = false;
  o.oncpu_options.frequency_hz = 99;
  o.out_dir = TempDir() + "/out";
  auto r = profiling::RunAttachProfiles(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->profiles.size(), 1u);
  const Profile& p = r->profiles[0];
  EXPECT_EQ(p.type, profile::ProfileType::kOnCpu);
  EXPECT_EQ(p.period_ns, 1000000000u / 99);

  const uint64_t all = ValueFor(p, pid, [](const StackSample&) { return true; });
  const uint64_t hot =
      ValueFor(p, pid, [](const StackSample& s) { return HasFunction(s, "burn_cpu_for_test"); });
  // ~3 s at 99 Hz of a process spinning on one CPU is ~297 samples when it has a CPU to itself;
  // on a busy (CI) machine it gets less, and the sample count follows its CPU time.
  EXPECT_GT(all, 30u) << Describe(p);
  const double sampled_s = static_cast<double>(all) * static_cast<double>(p.period_ns) / 1e9;
  EXPECT_LE(sampled_s, CpuSeconds(pid) * 1.1 + 0.05) << "more samples than CPU time used";
  EXPECT_GE(static_cast<double>(hot), 0.8 * static_cast<double>(all)) << Describe(p);
  for (const auto& s : p.samples) EXPECT_EQ(s.pid, pid) << "pid selection leaked";
  EXPECT_NE(r->summary.find("burn_cpu_for_test"), std::string::npos) << r->summary;
  std::cout << r->summary;

  // Folded.
  const std::string folded = ReadFileOrEmpty(o.out_dir + "/oncpu.folded");
  EXPECT_NE(folded.find("burn_cpu_for_test"), std::string::npos) << folded;
  auto reread = flamegraph::FoldedReader::ReadString(folded);
  EXPECT_EQ(reread.bad_lines, 0u);
  EXPECT_EQ(profile::TotalValue(reread.profile), profile::TotalValue(p));

  // SVG, parsed as XML.
  const std::string titles = SvgTitles(o.out_dir + "/oncpu.svg");
  EXPECT_NE(titles.find("burn_cpu_for_test"), std::string::npos) << titles.substr(0, 2000);

  // pprof, decoded with protobuf.
  const std::string gz = ReadFileOrEmpty(o.out_dir + "/oncpu.pb.gz");
  auto raw = GzipDecompress(gz, 1u << 30);
  ASSERT_TRUE(raw.ok()) << raw.error().message;
  perftools::profiles::Profile pb;
  ASSERT_TRUE(pb.ParseFromString(*raw));
  bool named = false;
  for (const auto& fn : pb.function()) {
    if (pb.string_table(static_cast<int>(fn.name())) == "burn_cpu_for_test") named = true;
  }
  EXPECT_TRUE(named);
  int64_t pb_samples = 0;
  for (const auto& s : pb.sample()) pb_samples += s.value(0);
  EXPECT_EQ(static_cast<uint64_t>(pb_samples), profile::TotalValue(p));
  // The main binary's mapping carries its build id.
  bool build_id = false;
  for (const auto& m : pb.mapping()) {
    const std::string& file = pb.string_table(static_cast<int>(m.filename()));
    if (file.find("burn_cpu") != std::string::npos &&
        !pb.string_table(static_cast<int>(m.build_id())).empty()) {
      build_id = true;
    }
  }
  EXPECT_TRUE(build_id);
}

// True when the user frames, root first, hold `chain` as consecutive frames.
bool HasChain(const StackSample& s, const std::vector<std::string>& chain) {
  std::vector<std::string> user;
  for (const auto& f : s.frames) {
    if (f.kind != FrameKind::kKernel) user.push_back(f.function);
  }
  return std::search(user.begin(), user.end(), chain.begin(), chain.end()) != user.end();
}

// Profiles `pid` on-CPU at 99 Hz for 3 s (`attach --profile oncpu`), its files written to
// `out_dir`; false (with a test failure) when the run failed.
bool ProfileOnCpu(uint32_t pid, const std::string& out_dir, Profile* out, bool cfi_unwind = true) {
  profiling::AttachProfilesOptions o;
  o.pids = {pid};
  o.duration = std::chrono::seconds(3);
  o.offcpu = false;
  o.oncpu_options.frequency_hz = 99;
  o.oncpu_options.cfi_unwind = cfi_unwind;
  o.out_dir = out_dir;
  auto r = profiling::RunAttachProfiles(o);
  EXPECT_TRUE(r.ok()) << r.error().message;
  if (!r.ok() || r->profiles.empty()) return false;
  *out = r->profiles[0];
  return true;
}

// Profiles nofp_chain (-O2, no frame pointers) for 3 s; the share of its samples whose stack
// reads main;outer;middle;leaf, and the share that reaches libc's start of main.
std::pair<double, double> NoFramePointerChainShares(bool cfi_unwind, Profile* out) {
  Child prog({ZT_NOFP_CHAIN, "8"});
  EXPECT_EQ(prog.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  if (!ProfileOnCpu(pid, TempDir() + (cfi_unwind ? "/cfi" : "/fp"), out, cfi_unwind)) return {0, 0};
  const double all =
      static_cast<double>(ValueFor(*out, pid, [](const StackSample&) { return true; }));
  const double chain = static_cast<double>(ValueFor(*out, pid, [](const StackSample& s) {
    return HasChain(s, {"main", "outer", "middle", "leaf"});
  }));
  const double started = static_cast<double>(ValueFor(*out, pid, [](const StackSample& s) {
    return HasFunction(s, "__libc_start_call_main") || HasFunction(s, "__libc_start_main");
  }));
  EXPECT_GT(all, 30) << Describe(*out);
  return {all > 0 ? chain / all : 0, all > 0 ? started / all : 0};
}

TEST(ProfilingBpfTest, OnCpuStackOfCodeWithoutFramePointersIsWalkedWithItsCfi) {
  ZT_REQUIRE_BPF();
  Profile p;
  const auto [chain, started] = NoFramePointerChainShares(true, &p);
  std::cout << "CFI: main;outer;middle;leaf " << chain << ", from libc start " << started << "\n"
            << Describe(p, 5);
  EXPECT_GE(chain, 0.9) << Describe(p);
  EXPECT_GE(started, 0.9) << Describe(p);
  // The control: frame pointers alone cannot walk this program (so the above is the CFI's).
  Profile fp;
  const auto [fp_chain, fp_started] = NoFramePointerChainShares(false, &fp);
  EXPECT_LT(fp_chain, 0.5) << Describe(fp);
  std::cout << "frame pointers: " << fp_chain << ", " << fp_started << "\n" << Describe(fp, 5);
}

// A process with 300 libraries (more executable mappings than the unwinder describes): stacks
// through the copy loaded first (kept) are complete; stacks in the copy loaded last (past the
// bound, no rows loaded) end at its leaf instead of naming callers guessed by frame pointers.
TEST(ProfilingBpfTest, StacksPastTheMappingBoundStopInsteadOfGuessing) {
  ZT_REQUIRE_BPF();
  Child prog({ZT_MANY_LIBS, ZT_MANY_LIBS_LIB, TempDir(), "300", "8"});
  ASSERT_EQ(prog.ReadLine(std::chrono::seconds(60)), "ready");
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  Profile p;
  ASSERT_TRUE(ProfileOnCpu(pid, TempDir() + "/many_libs", &p));
  auto user_frames = [](const StackSample& s) {
    std::vector<std::string> user;
    for (const auto& f : s.frames) {
      if (f.kind != FrameKind::kKernel) user.push_back(f.function);
    }
    return user;
  };
  const double all = static_cast<double>(ValueFor(p, pid, [](const StackSample&) { return true; }));
  const double near = static_cast<double>(
      ValueFor(p, pid, [](const StackSample& s) { return HasFunction(s, "call_near"); }));
  const double near_chain = static_cast<double>(ValueFor(p, pid, [](const StackSample& s) {
    return HasChain(s, {"main", "call_near", "lib_work", "lib_spin"});
  }));
  // In the far copy: only its own leaf frame(s), never a caller (the walk stopped there).
  const double far_stopped = static_cast<double>(ValueFor(p, pid, [&](const StackSample& s) {
    const auto user = user_frames(s);
    return !HasFunction(s, "call_near") && !user.empty() && user.size() <= 1 &&
           (user[0] == "lib_spin" || user[0] == "lib_work");
  }));
  // call_far calls only into the far copy: a sample taken in call_far itself is right, but one
  // with a frame above it came through the unloaded library's callers, guessed.
  const uint64_t far_walked = ValueFor(p, pid, [&](const StackSample& s) {
    const auto user = user_frames(s);
    const auto it = std::find(user.begin(), user.end(), "call_far");
    return it != user.end() && it + 1 != user.end();
  });
  std::cout << "samples " << all << ", near " << near << " (chain " << near_chain
            << "), far stopped " << far_stopped << "\n"
            << Describe(p, 8);
  EXPECT_GT(all, 60) << Describe(p);  // of ~300 at 99 Hz for 3 s; fewer on a loaded host
  EXPECT_GE(near_chain, 0.9 * near) << Describe(p);
  EXPECT_GE(near, 0.3 * all) << Describe(p);
  EXPECT_GE(far_stopped, 0.3 * all) << Describe(p);
  EXPECT_EQ(far_walked, 0u) << "a stack walked through the unloaded library\n" << Describe(p);
}

// A stack deeper than the walk's 127 frames (200 recursive calls, no frame pointers): marked
// truncated, and every frame it keeps is right (leaf, then recurse, recurse, ...), none guessed;
// the folded output shows `[truncated]` under the process.
TEST(ProfilingBpfTest, AStackDeeperThanTheBoundIsTruncatedAndMarked) {
  ZT_REQUIRE_BPF();
  Child prog({ZT_NOFP_CHAIN, "8", "deep"});
  ASSERT_EQ(prog.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  Profile p;
  const std::string out_dir = TempDir() + "/deep";
  ASSERT_TRUE(ProfileOnCpu(pid, out_dir, &p));
  const double all = static_cast<double>(ValueFor(p, pid, [](const StackSample&) { return true; }));
  const double deep_right = static_cast<double>(ValueFor(p, pid, [](const StackSample& s) {
    std::vector<std::string> user;  // leaf first
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      if (it->kind != FrameKind::kKernel) user.push_back(it->function);
    }
    if (!s.truncated || user.size() < 100 || user[0] != "leaf") return false;
    return std::all_of(user.begin() + 1, user.end(),
                       [](const std::string& f) { return f == "recurse"; });
  }));
  std::cout << "samples " << all << ", truncated with only leaf;recurse... " << deep_right << "\n";
  EXPECT_GT(all, 60) << Describe(p, 3);
  EXPECT_GE(deep_right, 0.9 * all) << Describe(p, 3);
  const std::string folded = ReadFileOrEmpty(out_dir + "/oncpu.folded");
  EXPECT_NE(folded.find("nofp_chain;[truncated];recurse;recurse"), std::string::npos)
      << folded.substr(0, 600);
}

// Off-CPU: a thread blocks in libc's usleep (no frame pointers there either) called from leaf;
// frame pointers alone give the time to the caller's caller or lose it, CFI to the caller.
// The same through read() (of a timerfd) and pthread_cond_timedwait() (a futex wait).
TEST(ProfilingBpfTest, OffCpuTimeOfCodeWithoutFramePointersLandsOnTheCallingFunction) {
  ZT_REQUIRE_BPF();
  for (const char* mode : {"sleep", "read", "cond"}) {
    SCOPED_TRACE(mode);
    Child prog({ZT_NOFP_CHAIN, "30", mode});
    ASSERT_EQ(prog.ReadLine(std::chrono::seconds(10)), "ready");
    const uint32_t pid = static_cast<uint32_t>(prog.pid());
    profiling::AttachProfilesOptions o;
    o.pids = {pid};
    o.duration = std::chrono::seconds(3);
    o.oncpu = false;
    o.out_dir = TempDir() + "/offcpu-cfi-" + mode;
    auto r = profiling::RunAttachProfiles(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->profiles.size(), 1u);
    const Profile& p = r->profiles[0];
    ASSERT_EQ(p.type, profile::ProfileType::kOffCpu);
    const double all =
        static_cast<double>(ValueFor(p, pid, [](const StackSample&) { return true; }));
    const double chain = static_cast<double>(ValueFor(p, pid, [](const StackSample& s) {
      return HasChain(s, {"main", "outer", "middle", "leaf"}) && HasKernelSchedulingFrame(s);
    }));
    EXPECT_GT(all, 1e9) << Describe(p);  // about 3 s blocked
    EXPECT_GE(chain, 0.9 * all) << Describe(p);
    std::cout << mode << ": off-CPU share on main;outer;middle;leaf: " << chain / all << "\n"
              << Describe(p, 3);
  }
}

// Python interpreters whose frames the tests check: Debian's (always), and more from
// ZT_TEST_PYTHONS (space-separated paths, e.g. pyenv's 3.12 and 3.13).
std::vector<std::string> TestPythons() {
  std::vector<std::string> out = {"/usr/bin/python3.11"};
  if (const char* more = std::getenv("ZT_TEST_PYTHONS")) {
    std::istringstream in(more);
    for (std::string p; in >> p;) out.push_back(p);
  }
  return out;
}

// What tests/testprogs/python_frames.py says of itself before `ready`: the lines a sample of
// each of its functions may be on (from the interpreter, the oracle).
using PythonLines = std::map<std::string, std::set<uint32_t>>;
bool StartPythonWorkload(Child& py, PythonLines* lines, std::string* spin_name = nullptr) {
  for (;;) {
    auto l = py.ReadLine(std::chrono::seconds(20));
    if (!l) return false;
    if (*l == "ready") return true;
    std::istringstream in(*l);
    std::string tag, name;
    uint32_t line = 0;
    if (!(in >> tag >> name)) continue;
    if (tag == "spin_name" && spin_name) *spin_name = name;
    if (tag == "expect" && in >> line) (*lines)[name].insert(line);
  }
}

// True when the user frames, root first, hold `chain` in order (not necessarily adjacent: C
// frames such as map()'s sit between Python frames) and each of them is on an expected line.
bool HasPythonChain(const StackSample& s, const std::vector<std::string>& chain,
                    const PythonLines& lines) {
  size_t next = 0;
  for (const auto& f : s.frames) {
    if (next == chain.size()) break;
    if (f.kind == FrameKind::kKernel || f.function != chain[next]) continue;
    auto it = lines.find(f.function);
    if (it == lines.end() || !it->second.count(f.line)) return false;
    if (f.module.size() < 16 || f.module.substr(f.module.size() - 16) != "python_frames.py") {
      return false;
    }
    ++next;
  }
  return next == chain.size();
}

// The user leaf frame's module (where the sample was taken in user space).
std::string UserLeafModule(const StackSample& s) {
  for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
    if (it->kind != FrameKind::kKernel) return it->module;
  }
  return "";
}

// Debian's CPython without frame pointers or -X perf: the main thread's samples read
// <module>;main;via_c;(map, in C);outer;middle;Burner.spin with the lines the interpreter
// reports, the eval loop's C frames replaced by them; a second thread hashing with the GIL
// released (in libcrypto) still shows its Python caller (the thread state is found by the
// thread's FS base, not from the GIL holder).
// The same with 100 more (idle) threads started after the main thread: the main thread is then
// past the first window of the thread search, found by the search's second window.
TEST(ProfilingBpfTest, OnCpuStacksOfPythonNameItsFunctionsAndLines) {
  ZT_REQUIRE_BPF();
  std::vector<std::pair<std::string, std::string>> runs;
  for (const std::string& interpreter : TestPythons()) runs.emplace_back(interpreter, "0");
  runs.emplace_back(TestPythons()[0], "100");
  for (const auto& [interpreter, idle_threads] : runs) {
    SCOPED_TRACE(interpreter + " with " + idle_threads + " idle threads");
    Child py({interpreter, ZT_PYTHON_FRAMES_PY, "30", "cpu", idle_threads});
    PythonLines lines;
    std::string spin;  // Burner.spin (3.11+) or spin
    ASSERT_TRUE(StartPythonWorkload(py, &lines, &spin));
    const uint32_t pid = static_cast<uint32_t>(py.pid());
    Profile p;
    ASSERT_TRUE(ProfileOnCpu(pid, TempDir() + "/python-oncpu", &p));
    const double all = static_cast<double>(ValueFor(p, pid, [](const StackSample&) { return true; }));
    const double main_thread = static_cast<double>(
        ValueFor(p, pid, [](const StackSample& s) { return HasFunction(s, "via_c"); }));
    const double chain = static_cast<double>(ValueFor(p, pid, [&](const StackSample& s) {
      return HasPythonChain(s, {"<module>", "main", "via_c", "outer", "middle", spin}, lines) &&
             (HasChain(s, {"outer", "middle", spin}) || spin == "spin");
    }));
    const double crypto = static_cast<double>(ValueFor(p, pid, [](const StackSample& s) {
      return UserLeafModule(s).find("libcrypto") != std::string::npos;
    }));
    const double crypto_named = static_cast<double>(ValueFor(p, pid, [&](const StackSample& s) {
      return UserLeafModule(s).find("libcrypto") != std::string::npos &&
             HasPythonChain(s, {"hasher"}, lines);
    }));
    const double eval = static_cast<double>(ValueFor(p, pid, [](const StackSample& s) {
      return HasFunction(s, "_PyEval_EvalFrameDefault");
    }));
    std::cout << interpreter << " (" << idle_threads << " idle threads): main chain " << chain << "/" << main_thread << ", hasher "
              << crypto_named << "/" << crypto << ", eval frames " << eval << "/" << all << "\n"
              << Describe(p, 3);
    EXPECT_GT(main_thread, 60) << Describe(p);
    EXPECT_GE(chain, 0.9 * main_thread) << Describe(p);
    EXPECT_GT(crypto, 30) << Describe(p);
    EXPECT_GE(crypto_named, 0.9 * crypto) << Describe(p);
    EXPECT_LE(eval, 0.05 * all) << Describe(p);
  }
}

// A Python function blocking in time.sleep: its off-CPU time lands on it, at the sleep's line.
TEST(ProfilingBpfTest, OffCpuTimeOfPythonLandsOnTheBlockingPythonFunction) {
  ZT_REQUIRE_BPF();
  for (const std::string& interpreter : TestPythons()) {
    SCOPED_TRACE(interpreter);
    Child py({interpreter, ZT_PYTHON_FRAMES_PY, "30", "sleep"});
    PythonLines lines;
    ASSERT_TRUE(StartPythonWorkload(py, &lines));
    const uint32_t pid = static_cast<uint32_t>(py.pid());
    profiling::AttachProfilesOptions o;
    o.pids = {pid};
    o.duration = std::chrono::seconds(3);
    o.oncpu = false;
    o.out_dir = TempDir() + "/python-offcpu";
    auto r = profiling::RunAttachProfiles(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->profiles.size(), 1u);
    const Profile& p = r->profiles[0];
    const double all =
        static_cast<double>(ValueFor(p, pid, [](const StackSample&) { return true; }));
    const double napper = static_cast<double>(ValueFor(p, pid, [&](const StackSample& s) {
      return HasPythonChain(s, {"<module>", "main", "napper"}, lines) &&
             HasKernelSchedulingFrame(s);
    }));
    std::cout << interpreter << ": off-CPU share on <module>;main;napper: " << napper / all
              << "\n" << Describe(p, 3);
    EXPECT_GT(all, 1e9) << Describe(p);  // about 3 s blocked
    EXPECT_GE(napper, 0.9 * all) << Describe(p);
  }
}

TEST(ProfilingBpfTest, OffCpuProfileOfSleeperAttributesOneSecondToTheKnownFunction) {
  ZT_REQUIRE_BPF();
  Child sleeper({ZT_SLEEPER, "10", "100"});
  ASSERT_EQ(sleeper.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(sleeper.pid());

  Features features(MakeKernelFeatureProber());
  ProcessSelection sel;
  sel.pids = {pid};
  auto filter = ProcessFilter::Create(sel);
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  auto syms = profiling::MakeDefaultSymbolizers();
  ASSERT_TRUE(syms.ok()) << syms.error().message;
  auto collector = profiling::ProfileCollector::CreateOffCpu(features, *filter, {}, *syms);
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  EXPECT_EQ((*collector)->probe()->attach_mode(), "tp_btf");

  const auto id = (*collector)->StartRecording({pid});
  sleeper.WriteLine("go");
  ASSERT_EQ(sleeper.ReadLine(std::chrono::seconds(10)), "done");
  const Profile p = (*collector)->StopRecording(id);

  const uint64_t ns = ValueFor(p, pid, [](const StackSample& s) {
    return HasFunction(s, "wait_in_known_function") && HasKernelSchedulingFrame(s);
  });
  EXPECT_NEAR(static_cast<double>(ns) / 1e9, 1.0, 0.2) << Describe(p);
  // Totals for the daemon's counter follow the same data.
  auto totals = (*collector)->TakeTotals();
  ASSERT_TRUE(totals.count(pid));
  EXPECT_GE(totals[pid].nanoseconds, ns);
  EXPECT_EQ(totals[pid].comm, "sleeper");
}

// Answers like the kernel except that tp_btf is "missing", to exercise the raw_tp fallback.
class NoTpBtfProber : public FeatureProber {
 public:
  FeatureAnswer Probe(Feature f) override {
    if (f == Feature::kTpBtf) return {false, "disabled by the test"};
    return real_->Probe(f);
  }

 private:
  std::unique_ptr<FeatureProber> real_ = MakeKernelFeatureProber();
};

// Seconds the sleeper's 10 x 100 ms spend in wait_in_known_function, as seen by an off-CPU
// collector built with `features` and `options`.
double SleeperOffCpuSeconds(Features& features, const OffCpuOptions& options,
                            std::string* attach_mode, std::string* describe) {
  Child sleeper({ZT_SLEEPER, "10", "100"});
  if (sleeper.ReadLine(std::chrono::seconds(10)) != "ready") return -1;
  const uint32_t pid = static_cast<uint32_t>(sleeper.pid());
  ProcessSelection sel;
  sel.pids = {pid};
  auto filter = ProcessFilter::Create(sel);
  auto syms = profiling::MakeDefaultSymbolizers();
  if (!filter.ok() || !syms.ok()) return -1;
  auto collector = profiling::ProfileCollector::CreateOffCpu(features, *filter, options, *syms);
  if (!collector.ok()) {
    *describe = collector.error().message;
    return -1;
  }
  *attach_mode = (*collector)->probe()->attach_mode();
  const auto id = (*collector)->StartRecording({pid});
  sleeper.WriteLine("go");
  if (sleeper.ReadLine(std::chrono::seconds(10)) != "done") return -1;
  const Profile p = (*collector)->StopRecording(id);
  *describe = Describe(p);
  return static_cast<double>(ValueFor(p, pid,
                                      [](const StackSample& s) {
                                        return HasFunction(s, "wait_in_known_function") &&
                                               HasKernelSchedulingFrame(s);
                                      })) /
         1e9;
}

TEST(ProfilingBpfTest, OffCpuFallsBackToRawTracepointWithoutTpBtf) {
  ZT_REQUIRE_BPF();
  Features features(std::make_unique<NoTpBtfProber>());
  std::string mode, describe;
  const double s = SleeperOffCpuSeconds(features, {}, &mode, &describe);
  EXPECT_EQ(mode, "raw_tracepoint");
  EXPECT_NEAR(s, 1.0, 0.2) << describe;
}

TEST(ProfilingBpfTest, OffCpuStateFilterSelectsSleepsOrDiskWaits) {
  ZT_REQUIRE_BPF();
  Features features(MakeKernelFeatureProber());
  std::string mode, describe;
  OffCpuOptions interruptible;
  interruptible.state = OffCpuStateFilter::kInterruptible;
  EXPECT_NEAR(SleeperOffCpuSeconds(features, interruptible, &mode, &describe), 1.0, 0.2)
      << describe;
  OffCpuOptions uninterruptible;
  uninterruptible.state = OffCpuStateFilter::kUninterruptible;
  EXPECT_LT(SleeperOffCpuSeconds(features, uninterruptible, &mode, &describe), 0.05) << describe;
  // A block longer than max_block (the 100 ms sleeps) is not counted.
  OffCpuOptions short_only;
  short_only.max_block = std::chrono::milliseconds(50);
  EXPECT_LT(SleeperOffCpuSeconds(features, short_only, &mode, &describe), 0.05) << describe;
}

// Two off-CPU probes on one sleeper at once: every switch-out, and one in four weighed by 4.
TEST(ProfilingBpfTest, SampledOffCpuIsAnUnbiasedEstimateOfTheExactOne) {
  ZT_REQUIRE_BPF();
  Features features(MakeKernelFeatureProber());
  Child sleeper({ZT_SLEEPER, "600", "2"});  // 600 blocks of 2 ms
  ASSERT_EQ(sleeper.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(sleeper.pid());
  ProcessSelection sel;
  sel.pids = {pid};
  auto filter = ProcessFilter::Create(sel);
  ASSERT_TRUE(filter.ok());
  auto syms = profiling::MakeDefaultSymbolizers();
  ASSERT_TRUE(syms.ok());
  OffCpuOptions sampled_options;
  sampled_options.sample_ratio = 0.25;
  EXPECT_EQ(SampleOneIn(0.25), 4u);
  EXPECT_EQ(SampleOneIn(1.0), 1u);
  auto exact = profiling::ProfileCollector::CreateOffCpu(features, *filter, {}, *syms);
  auto sampled =
      profiling::ProfileCollector::CreateOffCpu(features, *filter, sampled_options, *syms);
  ASSERT_TRUE(exact.ok()) << exact.error().message;
  ASSERT_TRUE(sampled.ok()) << sampled.error().message;
  (*exact)->TakeTotals();
  (*sampled)->TakeTotals();
  sleeper.WriteLine("go");
  ASSERT_EQ(sleeper.ReadLine(std::chrono::seconds(30)), "done");
  ASSERT_TRUE((*exact)->Poll().ok());
  ASSERT_TRUE((*sampled)->Poll().ok());
  auto e = (*exact)->TakeTotals()[pid];
  auto s = (*sampled)->TakeTotals()[pid];
  ASSERT_GE(e.samples, 550u);  // the 600 sleeps (exactness is checked by the tests above)
  // Every recorded block stands for 4: the weighting is there (an unsampled probe would give
  // counts that are not all multiples of 4 and no fewer recordings).
  EXPECT_EQ(s.samples % 4, 0u) << s.samples;
  EXPECT_GT(s.samples, 0u);
  // 600 blocks at 1/4: about 150 recorded, standard deviation about 11 (7%); 30% is > 4 sd.
  const double ratio = static_cast<double>(s.nanoseconds) / static_cast<double>(e.nanoseconds);
  EXPECT_NEAR(ratio, 1.0, 0.3) << "exact " << e.nanoseconds << " ns in " << e.samples
                               << " blocks, sampled " << s.nanoseconds << " ns in " << s.samples;
  EXPECT_NEAR(static_cast<double>(s.samples) / static_cast<double>(e.samples), 1.0, 0.3);
}

TEST(ProfilingBpfTest, ProcessThatExitsMidwayKeepsWhatWasCaptured) {
  ZT_REQUIRE_BPF();
  Child burner({ZT_BURN_CPU, "2"});
  ASSERT_EQ(burner.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(burner.pid());

  profiling::AttachProfilesOptions o;
  o.pids = {pid};
  o.duration = std::chrono::seconds(20);
  o.out_dir = TempDir() + "/exit";
  o.progress = &std::cerr;
  const auto start = std::chrono::steady_clock::now();
  // Reap the child as soon as it exits, so /proc/PID goes away as for any non-child target.
  std::thread reaper([&] { burner.Wait(std::chrono::seconds(30)); });
  auto r = profiling::RunAttachProfiles(o);
  reaper.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(r->target_exited);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find("exited"), std::string::npos) << r->warnings[0];
  ASSERT_EQ(r->profiles.size(), 2u);
  const Profile& p = r->profiles[0];
  const uint64_t all = ValueFor(p, pid, [](const StackSample&) { return true; });
  const uint64_t hot =
      ValueFor(p, pid, [](const StackSample& s) { return HasFunction(s, "burn_cpu_for_test"); });
  EXPECT_GT(all, 10u) << Describe(p);  // up to ~2 s at 49 Hz
  EXPECT_GE(static_cast<double>(hot), 0.8 * static_cast<double>(all)) << Describe(p);
  EXPECT_NE(ReadFileOrEmpty(o.out_dir + "/oncpu.folded").find("burn_cpu_for_test"),
            std::string::npos);
  EXPECT_FALSE(ReadFileOrEmpty(o.out_dir + "/offcpu.svg").empty());
}

TEST(ProfilingBpfTest, AllProcessesAndTotalsSinceLastCall) {
  ZT_REQUIRE_BPF();
  Child burner({ZT_BURN_CPU, "4"});
  ASSERT_EQ(burner.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(burner.pid());
  Features features(MakeKernelFeatureProber());
  auto filter = ProcessFilter::Create({});
  ASSERT_TRUE(filter.ok());
  auto syms = profiling::MakeDefaultSymbolizers();
  ASSERT_TRUE(syms.ok());
  OnCpuOptions opts;
  opts.frequency_hz = 99;
  auto collector = profiling::ProfileCollector::CreateOnCpu(features, *filter, opts, *syms);
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  // A window of CPU the burner actually got (half a second of it), not of wall time: on a
  // loaded machine a wall-clock second may hold little of the burner's CPU.
  const double cpu_before = CpuSeconds(pid);
  ASSERT_TRUE(
      WaitFor([&] { return CpuSeconds(pid) - cpu_before >= 0.5; }, std::chrono::seconds(30)));
  const double cpu_used = CpuSeconds(pid) - cpu_before;
  ASSERT_TRUE((*collector)->Poll().ok());
  auto first = (*collector)->TakeTotals();
  ASSERT_TRUE(first.count(pid));
  // The burner's samples follow the CPU it got (less than a full second when the 2 CPUs are
  // shared with other tests): at least half its CPU time at 99 Hz, and a fair number. The
  // cpu-clock timer samples whatever runs when it fires, so beside stress-ng (time slices that
  // beat with the timer) a burner's share was 0.74 of its CPU time once; losing samples
  // wholesale (a ring or a map that drops) shows as far less.
  EXPECT_GE(static_cast<double>(first[pid].samples), 0.5 * cpu_used * 99) << cpu_used;
  EXPECT_GT(first[pid].samples, 20u);
  EXPECT_EQ(first[pid].nanoseconds, first[pid].samples * (1000000000ull / 99));
  // Nothing is counted twice: right after a take, the next take only has new samples.
  auto second = (*collector)->TakeTotals();
  EXPECT_FALSE(second.count(pid));
  const Profile p = (*collector)->Record(std::chrono::seconds(1));
  std::set<uint32_t> pids;
  for (const auto& s : p.samples) pids.insert(s.pid);
  EXPECT_TRUE(pids.count(pid));
}

TEST(ProfilingBpfTest, CommSelectionAndPerThreadKeysLoadAndSelectInTheKernel) {
  ZT_REQUIRE_BPF();
  Child burner({ZT_BURN_CPU, "4"});
  ASSERT_EQ(burner.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(burner.pid());
  Features features(MakeKernelFeatureProber());
  ProcessSelection sel;
  sel.comms = {"burn_cpu"};
  auto filter = ProcessFilter::Create(sel);
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  auto syms = profiling::MakeDefaultSymbolizers();
  ASSERT_TRUE(syms.ok());
  OnCpuOptions on;
  on.per_thread = true;
  on.frequency_hz = 99;
  auto oncpu = profiling::ProfileCollector::CreateOnCpu(features, *filter, on, *syms);
  ASSERT_TRUE(oncpu.ok()) << oncpu.error().message;
  auto offcpu = profiling::ProfileCollector::CreateOffCpu(features, *filter, {}, *syms);
  ASSERT_TRUE(offcpu.ok()) << offcpu.error().message;
  const Profile p = (*oncpu)->Record(std::chrono::milliseconds(1500));
  ASSERT_FALSE(p.samples.empty());
  for (const auto& s : p.samples) {
    EXPECT_EQ(s.process, "burn_cpu") << "comm selection leaked pid " << s.pid;
  }
  EXPECT_GT(ValueFor(p, pid, [](const StackSample&) { return true; }), 0u) << Describe(p);
}

}  // namespace
}  // namespace zerotrace::testing
