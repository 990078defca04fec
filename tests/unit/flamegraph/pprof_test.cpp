#include "flamegraph/pprof.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/gzip.h"
#include "core/utf8.h"
#include "flamegraph/profile.pb.h"
#include "test_profiles.h"
#include "test_util.h"

namespace zerotrace::flamegraph {
namespace {

namespace pb = ::perftools::profiles;
using testing::Gpu;
using testing::Kernel;
using testing::Stack;
using testing::User;

pb::Profile Decode(const Profile& profile) {
  std::string gz;
  EXPECT_TRUE(PprofWriter().Encode(profile, &gz));
  EXPECT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  auto raw = GzipDecompress(gz, 1u << 30);
  EXPECT_TRUE(raw.ok());
  pb::Profile msg;
  EXPECT_TRUE(raw.ok() && msg.ParseFromString(*raw));
  return msg;
}

// Resolves ids to make assertions readable.
struct Index {
  explicit Index(const pb::Profile& p) : p(p) {
    for (const auto& f : p.function()) functions[f.id()] = &f;
    for (const auto& l : p.location()) locations[l.id()] = &l;
    for (const auto& m : p.mapping()) mappings[m.id()] = &m;
  }
  const std::string& Str(int64_t i) const { return p.string_table(static_cast<int>(i)); }
  std::string FunctionOf(uint64_t location_id) const {
    const pb::Location* l = locations.at(location_id);
    return Str(functions.at(l->line(0).function_id())->name());
  }
  std::vector<std::string> Stack(const pb::Sample& s) const {
    std::vector<std::string> out;
    for (uint64_t id : s.location_id()) out.push_back(FunctionOf(id));
    return out;
  }
  const pb::Profile& p;
  std::map<uint64_t, const pb::Function*> functions;
  std::map<uint64_t, const pb::Location*> locations;
  std::map<uint64_t, const pb::Mapping*> mappings;
};

TEST(PprofTest, OnCpuProfileStructure) {
  Profile prof = testing::OnCpuProfile();
  pb::Profile p = Decode(prof);
  Index ix(p);
  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");

  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(ix.Str(p.sample_type(0).type()), "samples");
  EXPECT_EQ(ix.Str(p.sample_type(0).unit()), "count");
  EXPECT_EQ(ix.Str(p.sample_type(1).type()), "cpu");
  EXPECT_EQ(ix.Str(p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(ix.Str(p.period_type().type()), "cpu");
  EXPECT_EQ(p.period(), static_cast<int64_t>(prof.period_ns));
  EXPECT_EQ(ix.Str(p.default_sample_type()), "cpu");
  EXPECT_EQ(p.time_nanos(), prof.start_unix_ns);
  EXPECT_EQ(p.duration_nanos(), prof.duration_ns);

  ASSERT_EQ(p.sample_size(), 3);
  const pb::Sample& s0 = p.sample(0);
  ASSERT_EQ(s0.value_size(), 2);
  EXPECT_EQ(s0.value(0), 60);
  EXPECT_EQ(s0.value(1), 60 * static_cast<int64_t>(prof.period_ns));
  // Leaf first.
  EXPECT_EQ(ix.Stack(s0), (std::vector<std::string>{"compute", "work", "main"}));
  EXPECT_EQ(ix.Stack(p.sample(1)),
            (std::vector<std::string>{"sys_write", "write", "work", "main"}));

  // Labels.
  std::map<std::string, const pb::Label*> labels;
  for (const auto& l : s0.label()) labels[ix.Str(l.key())] = &l;
  ASSERT_TRUE(labels.count("pid"));
  EXPECT_EQ(labels["pid"]->num(), 42);
  ASSERT_TRUE(labels.count("process"));
  EXPECT_EQ(ix.Str(labels["process"]->str()), "app");

  // Shared frames are shared locations/functions: main, work, compute, write, sys_write, idle.
  EXPECT_EQ(p.function_size(), 6);
  EXPECT_EQ(p.location_size(), 6);

  // Mappings: app (with build id), libc, kernel.
  std::map<std::string, const pb::Mapping*> by_file;
  for (const auto& m : p.mapping()) by_file[ix.Str(m.filename())] = &m;
  ASSERT_TRUE(by_file.count("/usr/bin/app"));
  EXPECT_EQ(ix.Str(by_file["/usr/bin/app"]->build_id()), "abcdef0123456789");
  EXPECT_TRUE(by_file["/usr/bin/app"]->has_functions());
  ASSERT_TRUE(by_file.count("/lib/libc.so.6"));
  ASSERT_TRUE(by_file.count("[kernel.kallsyms]"));

  // Ids are nonzero and unique, references resolve, addresses lie inside their mapping.
  std::set<uint64_t> ids;
  for (const auto& l : p.location()) {
    EXPECT_NE(l.id(), 0u);
    EXPECT_TRUE(ids.insert(l.id()).second);
    ASSERT_EQ(l.line_size(), 1);
    EXPECT_TRUE(ix.functions.count(l.line(0).function_id()));
    if (l.mapping_id() != 0) {
      const pb::Mapping* m = ix.mappings.at(l.mapping_id());
      EXPECT_GE(l.address(), m->memory_start());
      EXPECT_LT(l.address(), m->memory_limit());
    }
  }
  for (const auto& s : p.sample()) {
    for (uint64_t id : s.location_id()) EXPECT_TRUE(ix.locations.count(id));
  }
}

TEST(PprofTest, ExtraSampleLabelsBecomeStringLabels) {
  Profile prof = testing::OnCpuProfile();
  for (auto& s : prof.samples)
    s.labels = {{"k8s_namespace_name", "shop"}, {"k8s_pod_name", "web-1"}};
  pb::Profile p = Decode(prof);
  ASSERT_GT(p.sample_size(), 0);
  Index idx(p);
  std::map<std::string, std::string> seen;
  for (const auto& l : p.sample(0).label()) {
    if (l.str() != 0) seen[idx.Str(l.key())] = idx.Str(l.str());
  }
  EXPECT_EQ(seen["k8s_namespace_name"], "shop");
  EXPECT_EQ(seen["k8s_pod_name"], "web-1");
}

TEST(PprofTest, OffCpuAndGpuSampleTypes) {
  Profile off;
  off.type = ProfileType::kOffCpu;
  off.samples.push_back(Stack("db", 9, {User("main"), Kernel("schedule")}, 12345));
  pb::Profile p = Decode(off);
  Index ix(p);
  ASSERT_EQ(p.sample_type_size(), 1);
  EXPECT_EQ(ix.Str(p.sample_type(0).type()), "offcpu");
  EXPECT_EQ(ix.Str(p.sample_type(0).unit()), "nanoseconds");
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(p.sample(0).value_size(), 1);
  EXPECT_EQ(p.sample(0).value(0), 12345);

  Profile gpu;
  gpu.type = ProfileType::kGpu;
  gpu.samples.push_back(Stack("train", 3, {User("step"), Gpu("sgemm_128x64")}, 777));
  pb::Profile g = Decode(gpu);
  Index gx(g);
  ASSERT_EQ(g.sample_type_size(), 1);
  EXPECT_EQ(gx.Str(g.sample_type(0).type()), "gpu");
  EXPECT_EQ(gx.Str(g.sample_type(0).unit()), "nanoseconds");
  ASSERT_EQ(g.sample_size(), 1);
  EXPECT_EQ(g.sample(0).value(0), 777);
  EXPECT_EQ(gx.Stack(g.sample(0)), (std::vector<std::string>{"[gpu] sgemm_128x64", "step"}));
  EXPECT_EQ(gx.locations.at(g.sample(0).location_id(0))->mapping_id(), 0u);  // GPU: no ELF
}

TEST(PprofTest, TruncatedAndUnsymbolizedFrames) {
  Frame raw;
  raw.module = "/usr/lib/libfoo.so";
  raw.module_offset = 0x1234;
  raw.build_id = "feedface";
  raw.kind = FrameKind::kUser;
  Profile prof;
  prof.samples.push_back(Stack("app", 1, {raw, User("leaf")}, 4, /*truncated=*/true));
  prof.samples.push_back(Stack("app", 1, {User("zero")}, 0));  // skipped
  pb::Profile p = Decode(prof);
  Index ix(p);
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(ix.Stack(p.sample(0)),
            (std::vector<std::string>{"leaf", "/usr/lib/libfoo.so+0x1234", "[truncated]"}));
  bool has_truncated_label = false;
  for (const auto& l : p.sample(0).label()) {
    if (ix.Str(l.key()) == "truncated") has_truncated_label = ix.Str(l.str()) == "true";
  }
  EXPECT_TRUE(has_truncated_label);
  for (const auto& m : p.mapping()) {
    if (ix.Str(m.filename()) == "/usr/lib/libfoo.so") {
      EXPECT_FALSE(m.has_functions());  // lets pprof re-symbolize from the binary
      EXPECT_EQ(ix.Str(m.build_id()), "feedface");
    }
  }
}

TEST(PprofTest, StringsAreValidUtf8) {
  Profile prof;
  prof.samples.push_back(Stack("bin\xff", 1, {User("caf\xc3\xa9"), User("bad\xc0\x80")}, 1));
  pb::Profile p = Decode(prof);
  Index ix(p);
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(ix.Stack(p.sample(0)),
            (std::vector<std::string>{"bad\xEF\xBF\xBD\xEF\xBF\xBD", "caf\xc3\xa9"}));
  for (const std::string& s : p.string_table()) EXPECT_EQ(ToValidUtf8(s), s);
}

TEST(PprofTest, EmptyProfileIsValid) {
  pb::Profile p = Decode(Profile{});
  EXPECT_EQ(p.sample_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
}

// An independent decoder: protoc parses our bytes against the .proto text.
TEST(PprofTest, ProtocDecodesOutput) {
  if (std::system(ZT_PROTOC " --version >/dev/null 2>&1") != 0)
    ZT_SKIP_UNLESS_CI("protoc not found (protobuf-compiler)");
  std::string raw;
  ASSERT_TRUE(PprofWriter().Serialize(testing::OnCpuProfile(), &raw));
  std::string base = ::testing::TempDir() + "/zt_pprof_" + std::to_string(getpid());
  {
    std::ofstream f(base + ".pb", std::ios::binary);
    f << raw;
  }
  std::string cmd = std::string(ZT_PROTOC) + " --decode=perftools.profiles.Profile -I " +
                    ZT_FLAMEGRAPH_PROTO_DIR + " " + ZT_FLAMEGRAPH_PROTO_DIR +
                    "/flamegraph/profile.proto < " + base + ".pb > " + base + ".txt 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(base + ".txt");
  std::stringstream text;
  text << in.rdbuf();
  std::remove((base + ".pb").c_str());
  std::remove((base + ".txt").c_str());
  ASSERT_EQ(rc, 0) << text.str();
  EXPECT_NE(text.str().find("string_table: \"compute\""), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("string_table: \"abcdef0123456789\""), std::string::npos);
  EXPECT_NE(text.str().find("sample_type {"), std::string::npos);
}

TEST(PprofTest, WriteFileAndErrors) {
  std::string path = ::testing::TempDir() + "/zt_pprof_" + std::to_string(getpid()) + ".pb.gz";
  ASSERT_TRUE(PprofWriter().WriteFile(testing::OnCpuProfile(), path));
  std::ifstream f(path, std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  auto raw = GzipDecompress(bytes.str(), 1u << 30);
  ASSERT_TRUE(raw.ok()) << raw.error().message;
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(*raw));
  std::remove(path.c_str());
  EXPECT_FALSE(PprofWriter().WriteFile(Profile{}, "/nonexistent/dir/x.pb.gz"));
}

}  // namespace
}  // namespace zerotrace::flamegraph
