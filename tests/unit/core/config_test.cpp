#include <gtest/gtest.h>

#include <fstream>

#include "core/config.h"

namespace zerotrace {
namespace {

TEST(ConfigTest, EmptyTextKeepsDefaults) {
  auto c = LoadConfigText("", "test.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen, ":9464");
  EXPECT_TRUE(c->probes.syscalls);
  EXPECT_FALSE(c->bpf_stats);
  EXPECT_EQ(c->interval.count(), 2000);
}

TEST(ConfigTest, ReadsEveryKey) {
  auto c = LoadConfigText(R"(
listen: 127.0.0.1:9999
log_level: debug
log_format: json
interval: 500ms
proc_root: /host/proc
bpf_stats: true
select:
  pids: [12, 34]
  comms: [nginx]
probes:
  syscalls:
    enabled: false
)",
                          "test.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:9999");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_EQ(c->interval.count(), 500);
  EXPECT_EQ(c->proc_root, "/host/proc");
  EXPECT_TRUE(c->bpf_stats);
  EXPECT_EQ(c->select.pids, (std::vector<uint32_t>{12, 34}));
  EXPECT_EQ(c->select.comms, (std::vector<std::string>{"nginx"}));
  EXPECT_FALSE(c->probes.syscalls);
}

TEST(ConfigTest, UnknownTopLevelKeyNamesKeyAndFile) {
  auto c = LoadConfigText("lisen: 1.2.3.4:1\n", "my.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("my.yaml"), std::string::npos);
  EXPECT_NE(c.error().message.find("'lisen'"), std::string::npos);
}

TEST(ConfigTest, UnknownNestedKeyIsReportedWithPath) {
  auto c = LoadConfigText("probes:\n  syscals:\n    enabled: true\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("probes.syscals"), std::string::npos) << c.error().message;
}

TEST(ConfigTest, BadValuesAreErrors) {
  EXPECT_FALSE(LoadConfigText("interval: soon\n", "x").ok());
  EXPECT_FALSE(LoadConfigText("bpf_stats: sometimes\n", "x").ok());
  EXPECT_FALSE(LoadConfigText("probes:\n  syscalls:\n    enabled: maybe\n", "x").ok());
  EXPECT_FALSE(LoadConfigText("select:\n  pids: [abc]\n", "x").ok());
  EXPECT_FALSE(LoadConfigText("select: 3\n", "x").ok());
  EXPECT_FALSE(LoadConfigText("listen: [1, 2\n", "x").ok());  // not YAML
}

// Lists and mappings where a name or a scalar belongs are errors naming the key, never a crash
// (yaml-cpp throws on such conversions).
TEST(ConfigTest, NonScalarKeysAndValuesAreErrorsNotCrashes) {
  for (const char* text :
       {"[1, 2]: x\n", "? {a: 1}\n: 2\n", "otlp: {headers: {Authorization: {a: b}}}\n",
        "otlp: {headers: {[a]: b}}\n", "probes: {offcpu: {min_block: {a: 1}}}\n",
        "probes: {offcpu: {max_block: [1]}}\n", "probes: {[x]: 1}\n"}) {
    auto c = LoadConfigText(text, "x.yaml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.error().message.find("config x.yaml"), std::string::npos) << c.error().message;
  }
}

TEST(ConfigTest, OffCpuBlockBoundsAreChecked) {
  auto neg = LoadConfigText("probes: {offcpu: {min_block: -5us}}\n", "x");
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.error().message.find("probes.offcpu.min_block"), std::string::npos);
  auto us = LoadConfigText("probes: {offcpu: {min_block: 500us, max_block: 2ms}}\n", "x");
  ASSERT_TRUE(us.ok()) << us.error().message;
  EXPECT_EQ(us->profiling.offcpu_min_block.count(), 500);
  EXPECT_EQ(us->profiling.offcpu_max_block.count(), 2000);
  EXPECT_TRUE(Validate(*us).ok());
  auto inverted = LoadConfigText("probes: {offcpu: {min_block: 10ms, max_block: 1ms}}\n", "x");
  ASSERT_TRUE(inverted.ok());
  auto v = Validate(*inverted);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("probes.offcpu.max_block"), std::string::npos) << v.message();
}

TEST(ConfigTest, UnwindMethodAndTableSize) {
  EXPECT_EQ(Config{}.profiling.unwind_method, "cfi");
  auto c = LoadConfigText("unwind: {method: frame_pointers, max_rows: 4096}\n", "x");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->profiling.unwind_method, "frame_pointers");
  EXPECT_EQ(c->profiling.unwind_max_rows, 4096u);
  EXPECT_TRUE(Validate(*c).ok());
  for (const char* bad : {"unwind: {method: dwarf}\n", "unwind: {max_rows: 10}\n",
                          "unwind: {max_rows: 100000000}\n"}) {
    auto b = LoadConfigText(bad, "x");
    ASSERT_TRUE(b.ok()) << bad;
    auto v = Validate(*b);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.message().find("unwind."), std::string::npos) << v.message();
  }
  auto typo = LoadConfigText("unwind: {methd: cfi}\n", "x");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("methd"), std::string::npos) << typo.error().message;
}

TEST(ConfigTest, OffCpuSampleRatioIsAShareOfSwitchOuts) {
  auto c = LoadConfigText("probes: {offcpu: {sample_ratio: 0.1}}\n", "x");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_DOUBLE_EQ(c->profiling.offcpu_sample_ratio, 0.1);
  EXPECT_TRUE(Validate(*c).ok());
  EXPECT_DOUBLE_EQ(Config{}.profiling.offcpu_sample_ratio, 1.0);  // exact by default
  for (const char* bad : {"0", "1.5", "-1", ".nan"}) {
    auto b = LoadConfigText(std::string("probes: {offcpu: {sample_ratio: ") + bad + "}}\n", "x");
    ASSERT_TRUE(b.ok()) << bad;
    auto v = Validate(*b);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.message().find("probes.offcpu.sample_ratio"), std::string::npos) << v.message();
  }
  auto text = LoadConfigText("probes: {offcpu: {sample_ratio: often}}\n", "x");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("probes.offcpu.sample_ratio"), std::string::npos);
}

TEST(ConfigTest, NanSamplingRatioIsRejected) {
  auto c = LoadConfigText("otlp: {sampling_ratio: .nan}\n", "x");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(Validate(*c).ok());
}

// A ConfigMap mounted as a directory and passed as the file used to load as "all defaults".
TEST(ConfigTest, DirectoryIsNotAConfigFile) {
  auto c = LoadConfigFile("/tmp");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos) << c.error().message;
}

TEST(ConfigTest, MissingFileIsAClearError) {
  auto c = LoadConfigFile("/nonexistent/zerotrace.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("/nonexistent/zerotrace.yaml"), std::string::npos);
}

TEST(ConfigTest, ValidateRejectsBadValues) {
  Config c;
  EXPECT_TRUE(Validate(c).ok());
  c.log_level = "loud";
  EXPECT_FALSE(Validate(c).ok());
  c = {};
  c.log_format = "xml";
  EXPECT_FALSE(Validate(c).ok());
  c = {};
  c.listen = "localhost:99999";
  EXPECT_FALSE(Validate(c).ok());
  c = {};
  c.select.comms = {"a-name-longer-than-15"};
  EXPECT_FALSE(Validate(c).ok());
  c = {};
  c.interval = std::chrono::milliseconds(10);
  EXPECT_FALSE(Validate(c).ok());
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("30s")->count(), 30000);
  EXPECT_EQ(ParseDuration("2m")->count(), 120000);
  EXPECT_EQ(ParseDuration("1h")->count(), 3600000);
  EXPECT_EQ(ParseDuration("1.5")->count(), 1500);
  EXPECT_FALSE(ParseDuration("5 parsecs").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("").ok());
  // Past what int64 milliseconds hold: an error, not an out-of-range conversion.
  EXPECT_FALSE(ParseDuration(std::string(63, '9')).ok());
  EXPECT_FALSE(ParseDuration("inf").ok());
  EXPECT_FALSE(ParseDuration("nan").ok());
  EXPECT_EQ(ParseDuration("100000000h")->count(), 360000000000000);
}

TEST(ConfigTest, ListenAddresses) {
  auto a = ParseListenAddress(":9464");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "");  // every address, IPv6 and IPv4
  EXPECT_EQ(a->port, 9464);
  auto b = ParseListenAddress("[::1]:80");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_FALSE(ParseListenAddress("nohost").ok());
  EXPECT_FALSE(ParseListenAddress("h:x1").ok());
}

}  // namespace
}  // namespace zerotrace

namespace zerotrace {
namespace {

TEST(ConfigTest, OtlpSection) {
  auto c = LoadConfigText(R"(
otlp:
  endpoint: http://jaeger:4318
  headers: {x-tenant: team-a}
  compression: gzip
  protocol: http/json
  sampling_ratio: 0.25
  keep_errors: false
  keep_slower_than: 500ms
)",
                          "x.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->otlp.endpoint, "http://jaeger:4318");
  EXPECT_EQ(c->otlp.headers.at("x-tenant"), "team-a");
  EXPECT_EQ(c->otlp.compression, "gzip");
  EXPECT_EQ(c->otlp.protocol, "http/json");
  EXPECT_DOUBLE_EQ(c->otlp.sampling_ratio, 0.25);
  EXPECT_FALSE(c->otlp.keep_errors);
  EXPECT_EQ(c->otlp.keep_slower_than.count(), 500);
  EXPECT_TRUE(Validate(*c).ok());
  c->otlp.sampling_ratio = 2;
  EXPECT_FALSE(Validate(*c).ok());
  EXPECT_FALSE(LoadConfigText("otlp:\n  endpont: x\n", "x").ok());
  auto bad = LoadConfigText("otlp:\n  compression: zstd\n", "x");
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(Validate(*bad).ok());
}

}  // namespace
}  // namespace zerotrace

namespace zerotrace {
namespace {

TEST(ProbeListTest, ExactlyTheListedProbesAndTlsBringsSockets) {
  auto p = ParseProbeList("syscalls,oncpu");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->syscalls);
  EXPECT_TRUE(p->oncpu);
  EXPECT_FALSE(p->sockets);
  EXPECT_FALSE(p->tls);
  EXPECT_FALSE(p->offcpu);
  EXPECT_FALSE(p->cuda);
  EXPECT_FALSE(p->cupti);
  auto tls = ParseProbeList("tls");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_TRUE(tls->sockets);
  auto none = ParseProbeList("");
  ASSERT_TRUE(none.ok());
  for (const auto& n : ProbeToggleNames()) EXPECT_FALSE((*none).*n.toggle) << n.name;
}

TEST(ProbeListTest, UnknownProbeNamesEveryAvailableOne) {
  auto p = ParseProbeList("syscalls,dns");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("unknown probe 'dns'"), std::string::npos);
  for (const auto& n : ProbeToggleNames()) {
    EXPECT_NE(p.error().message.find(n.name), std::string::npos) << n.name;
  }
}

// The config file accepts a section for every toggle, and nothing else.
TEST(ProbeListTest, ConfigFileKnowsEveryToggle) {
  for (const auto& n : ProbeToggleNames()) {
    auto c = LoadConfigText(std::string("probes:\n  ") + n.name + ":\n    enabled: false\n", "x");
    ASSERT_TRUE(c.ok()) << n.name << ": " << c.error().message;
    EXPECT_FALSE(c->probes.*n.toggle) << n.name;
  }
}

}  // namespace
}  // namespace zerotrace
