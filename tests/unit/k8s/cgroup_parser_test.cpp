#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "k8s/cgroup_parser.h"

namespace zerotrace::k8s {
namespace {

constexpr const char* kCid = "3f1c9a7be2d84c6f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5";
constexpr const char* kUid = "2f4b9c1e-8d3a-4f5b-9c7e-1a2b3c4d5e6f";

std::string fixture_dir() {
  const char* src = std::getenv("ZT_SOURCE_DIR");
  std::string root = src ? src : ZT_K8S_TEST_SOURCE_DIR;
  return root + "/tests/unit/k8s/fixtures/cgroup/";
}

std::string read_fixture(const std::string& name) {
  std::ifstream in(fixture_dir() + name);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  const char* file;
  const char* container_id;  // "" = none
  const char* pod_uid;       // "" = none
  ContainerRuntime runtime;
  QosClass qos;
  bool v2;
};

class CgroupFixtureTest : public ::testing::TestWithParam<Case> {};

TEST_P(CgroupFixtureTest, Parses) {
  const Case& c = GetParam();
  auto info = CgroupParser::Parse(read_fixture(c.file));
  ASSERT_TRUE(info.has_value()) << c.file;
  EXPECT_EQ(info->container_id, c.container_id) << c.file;
  EXPECT_EQ(info->pod_uid, c.pod_uid) << c.file;
  EXPECT_EQ(info->runtime, c.runtime) << c.file << " got " << ToString(info->runtime);
  EXPECT_EQ(info->qos, c.qos) << c.file << " got " << ToString(info->qos);
  EXPECT_EQ(info->cgroup_v2, c.v2) << c.file;
  EXPECT_FALSE(info->cgroup_path.empty());
}

using R = ContainerRuntime;
using Q = QosClass;
INSTANTIATE_TEST_SUITE_P(
    Layouts, CgroupFixtureTest,
    ::testing::Values(
        Case{"v2_systemd_containerd_burstable.txt", kCid, kUid, R::kContainerd, Q::kBurstable,
             true},
        Case{"v2_systemd_containerd_guaranteed.txt", kCid, kUid, R::kContainerd, Q::kGuaranteed,
             true},
        Case{"v2_systemd_crio_besteffort.txt", kCid, kUid, R::kCrio, Q::kBestEffort, true},
        Case{"v2_systemd_crio_conmon.txt", "", kUid, R::kUnknown, Q::kBestEffort, true},
        Case{"v2_systemd_docker_k8s.txt", kCid, kUid, R::kDocker, Q::kBurstable, true},
        Case{"v2_cgroupfs_containerd_besteffort.txt", kCid, kUid, R::kUnknown, Q::kBestEffort,
             true},
        Case{"v2_docker_standalone_systemd.txt", kCid, "", R::kDocker, Q::kUnknown, true},
        Case{"v2_podman.txt", kCid, "", R::kPodman, Q::kUnknown, true},
        Case{"v2_static_pod_hash_uid.txt", kCid, "6b2d3a5c8e9f40718293a4b5c6d7e8f9", R::kContainerd,
             Q::kBurstable, true},
        Case{"v1_cgroupfs_containerd_burstable.txt", kCid, kUid, R::kUnknown, Q::kBurstable, false},
        Case{"v1_cgroupfs_guaranteed.txt", kCid, kUid, R::kUnknown, Q::kGuaranteed, false},
        Case{"v1_systemd_containerd.txt", kCid, kUid, R::kContainerd, Q::kBurstable, false},
        Case{"v1_systemd_crio.txt", kCid, kUid, R::kCrio, Q::kBestEffort, false},
        Case{"v1_kind_containerd_systemd.txt", kCid, kUid, R::kContainerd, Q::kBestEffort, false},
        Case{"v1_docker_cgroupfs.txt", kCid, "", R::kDocker, Q::kUnknown, false},
        Case{"v1_docker_k8s_cgroupfs.txt", kCid, kUid, R::kUnknown, Q::kBestEffort, false},
        Case{"v1_mixed_pause_slice_only.txt", "", kUid, R::kUnknown, Q::kBurstable, false}),
    [](const ::testing::TestParamInfo<Case>& i) {
      std::string n = i.param.file;
      return n.substr(0, n.find('.'));
    });

TEST(CgroupParser, HostProcessesHaveNoContainer) {
  EXPECT_FALSE(CgroupParser::Parse(read_fixture("v2_host_process.txt")).has_value());
  EXPECT_FALSE(CgroupParser::Parse(read_fixture("v2_cgroupns_hidden.txt")).has_value());
  EXPECT_FALSE(CgroupParser::Parse("").has_value());
  EXPECT_FALSE(CgroupParser::Parse("garbage without colons\n").has_value());
  EXPECT_FALSE(CgroupParser::Parse("0::/user.slice/user-1000.slice/session-3.scope\n").has_value());
}

TEST(CgroupParser, EveryFixtureIsCovered) {
  // A new fixture must come with an expectation above (or in HostProcessesHaveNoContainer).
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(fixture_dir())) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 19u);
}

TEST(CgroupParser, PathLevelApi) {
  auto info = CgroupParser::ParsePath(
      std::string("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod") +
      "2f4b9c1e_8d3a_4f5b_9c7e_1a2b3c4d5e6f.slice/cri-containerd-" + kCid + ".scope");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pod_uid, kUid);  // '_' -> '-'
  EXPECT_EQ(info->container_id, kCid);
  EXPECT_FALSE(info->cgroup_v2);  // only set by Parse()
}

TEST(CgroupParser, UpperCaseIdsAreLowered) {
  std::string upper(kCid);
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto info = CgroupParser::Parse("0::/system.slice/docker-" + upper + ".scope\n");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->container_id, kCid);
}

TEST(CgroupParser, RejectsMalformedIds) {
  EXPECT_FALSE(CgroupParser::Parse("0::/system.slice/docker-abc123.scope\n"));
  EXPECT_FALSE(CgroupParser::Parse("0::/kubepods/besteffort/podnot-a-uid/xyz\n"));
  EXPECT_FALSE(CgroupParser::Parse("0::/docker/" + std::string(64, 'z') + "\n"));
  EXPECT_TRUE(CgroupParser::IsContainerId(kCid));
  EXPECT_FALSE(CgroupParser::IsContainerId(std::string(63, 'a')));
  EXPECT_TRUE(CgroupParser::IsPodUid(kUid));
  EXPECT_TRUE(CgroupParser::IsPodUid("2f4b9c1e_8d3a_4f5b_9c7e_1a2b3c4d5e6f"));
  EXPECT_TRUE(CgroupParser::IsPodUid("6b2d3a5c8e9f40718293a4b5c6d7e8f9"));
  EXPECT_FALSE(CgroupParser::IsPodUid("2f4b9c1e+8d3a-4f5b-9c7e-1a2b3c4d5e6f"));
}

TEST(CgroupParser, HexDirectoryOutsideKnownParentsIsNotAContainer) {
  EXPECT_FALSE(CgroupParser::Parse("0::/system.slice/" + std::string(kCid) + "\n"));
}

TEST(CgroupParser, PrefersLineWithMostInformation) {
  std::string text = std::string("11:memory:/kubepods/burstable/pod") + kUid + "\n" +
                     "5:cpu:/kubepods/burstable/pod" + kUid + "/" + kCid + "\n";
  auto info = CgroupParser::Parse(text);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->container_id, kCid);
  EXPECT_EQ(info->pod_uid, kUid);
}

TEST(CgroupParser, ReadPidFromProcRoot) {
  auto dir = std::filesystem::temp_directory_path() / ("zt_k8s_proc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "4242");
  {
    std::ofstream out(dir / "4242" / "cgroup");
    out << read_fixture("v2_systemd_crio_besteffort.txt");
  }
  auto info = CgroupParser::ReadPid(4242, dir.string());
  auto missing = CgroupParser::ReadPid(4243, dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->runtime, ContainerRuntime::kCrio);
  EXPECT_FALSE(missing);
  // Our own process on the build machine: whatever it is, reading must not crash.
  (void)CgroupParser::ReadPid(::getpid());
}

}  // namespace
}  // namespace zerotrace::k8s
