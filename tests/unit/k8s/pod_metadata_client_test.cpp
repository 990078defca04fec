#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "fake_api_server.h"
#include "k8s/cgroup_parser.h"
#include "k8s/pod_metadata_client.h"

namespace zerotrace::k8s {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

// Polls `pred` until it holds or 10 s pass.
template <typename Pred>
bool WaitUntil(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

constexpr const char* kAppCid = "3f1c9a7be2d84c6f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5";

std::string source_root() {
  const char* src = std::getenv("ZT_SOURCE_DIR");
  return src ? src : ZT_K8S_TEST_SOURCE_DIR;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string pods_fixture() {
  return read_file(source_root() + "/tests/unit/k8s/fixtures/pods_node_a.json");
}

PodMetadataClientOptions test_options(const FakeApiServer& srv) {
  PodMetadataClientOptions o;
  o.node_name = "node-a";
  o.test_api_base_url = srv.base_url();
  o.test_token = "test-token";
  o.test_allow_plain_http = true;
  o.request_timeout = 3s;
  o.refresh_interval = 1h;
  return o;
}

// ---- Pod list parsing ------------------------------------------------------------------------

TEST(PodListParsing, Fixture) {
  PodIndex idx;
  std::string err;
  ASSERT_TRUE(ParsePodList(pods_fixture(), "fallback", idx, &err)) << err;
  EXPECT_EQ(idx.by_pod_uid.size(), 5u);
  // app + envoy + init migrate + cri-o pytorch + ephemeral debugger + docker web; pending skipped.
  EXPECT_EQ(idx.by_container_id.size(), 6u);
  EXPECT_TRUE(idx.continue_token.empty());

  const auto& app = idx.by_container_id.at(kAppCid);
  EXPECT_EQ(app.namespace_name, "shop");
  EXPECT_EQ(app.pod_name, "checkout-7d9f8b6c5-x2x4q");
  EXPECT_EQ(app.container_name, "app");
  EXPECT_EQ(app.node_name, "node-a");
  EXPECT_EQ(app.pod_uid, "2f4b9c1e-8d3a-4f5b-9c7e-1a2b3c4d5e6f");

  EXPECT_EQ(idx.by_container_id.at(std::string(64, '1')).container_name, "migrate");
  // The cri-o id is upper case in the fixture: keys are lower-cased.
  EXPECT_EQ(idx.by_container_id.at(std::string(64, 'b')).container_name, "pytorch");
  EXPECT_EQ(idx.by_container_id.at(std::string(64, 'c')).container_name, "debugger");
  EXPECT_EQ(idx.by_container_id.at(std::string(64, 'd')).namespace_name, "default");

  const auto& nostatus = idx.by_pod_uid.at("12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(nostatus.node_name, "fallback");  // spec.nodeName missing
  EXPECT_TRUE(nostatus.container_name.empty());
}

TEST(PodListParsing, Errors) {
  PodIndex idx;
  std::string err;
  EXPECT_FALSE(ParsePodList("{not json", "n", idx, &err));
  EXPECT_NE(err.find("invalid JSON"), std::string::npos);
  EXPECT_FALSE(ParsePodList(R"({"kind":"Status","message":"forbidden"})", "n", idx, &err));
  EXPECT_NE(err.find("forbidden"), std::string::npos);
  EXPECT_FALSE(ParsePodList(R"({"kind":"PodList"})", "n", idx, &err));
  EXPECT_FALSE(ParsePodList(R"([1,2])", "n", idx, &err));
  EXPECT_FALSE(ParsePodList(R"({"kind":"NodeList","items":[]})", "n", idx, &err));
  EXPECT_TRUE(ParsePodList(R"({"kind":"PodList","items":null})", "n", idx, &err));
  EXPECT_TRUE(ParsePodList(R"({"kind":"PodList","items":[1,"x",{"metadata":7}]})", "n", idx, &err));
  EXPECT_TRUE(idx.by_container_id.empty());
}

TEST(PodListParsing, StripScheme) {
  EXPECT_EQ(StripContainerIdScheme("containerd://ABC"), "abc");
  EXPECT_EQ(StripContainerIdScheme("cri-o://abc"), "abc");
  EXPECT_EQ(StripContainerIdScheme("docker://abc"), "abc");
  EXPECT_EQ(StripContainerIdScheme("abc"), "abc");
}

// ---- Disabled modes --------------------------------------------------------------------------

TEST(PodMetadataClient, DisabledOffKubernetes) {
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  PodMetadataClientOptions o;
  o.node_name = "node-a";
  PodMetadataClient c(o);
  EXPECT_FALSE(c.enabled());
  EXPECT_NE(c.disabled_reason().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  EXPECT_FALSE(c.Start());
  EXPECT_FALSE(c.RefreshNow());
  EXPECT_FALSE(c.LookupContainer(kAppCid));
  CgroupInfo cg;
  cg.container_id = kAppCid;
  EXPECT_FALSE(c.Lookup(cg));
  c.Stop();
}

TEST(PodMetadataClient, DisabledWithoutToken) {
  PodMetadataClientOptions o;
  o.node_name = "node-a";
  o.api_host = "10.96.0.1";
  o.api_port = "443";
  o.service_account_dir = "/nonexistent/zt-sa";
  PodMetadataClient c(o);
  EXPECT_FALSE(c.enabled());
  EXPECT_NE(c.disabled_reason().find("token"), std::string::npos);
}

TEST(PodMetadataClient, DisabledWithoutNodeName) {
  FakeApiServer srv([](const FakeRequest&) { return FakeResponse{200, "{}"}; });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);
  o.node_name.clear();
  PodMetadataClient c(o);
  EXPECT_FALSE(c.enabled());
  EXPECT_FALSE(c.Start());
  EXPECT_TRUE(srv.requests().empty());
}

TEST(PodMetadataClient, PlainHttpNeedsTheExplicitTestHook) {
  FakeApiServer srv([](const FakeRequest&) { return FakeResponse{200, "{}"}; });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);
  o.test_allow_plain_http = false;
  PodMetadataClient c(o);
  EXPECT_FALSE(c.enabled());
  EXPECT_FALSE(c.RefreshNow());
  EXPECT_TRUE(srv.requests().empty());
}

TEST(PodMetadataClient, FromEnv) {
  ::setenv("K8S_NODE_NAME", "node-from-env", 1);
  ::setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  auto o = PodMetadataClientOptions::FromEnv();
  EXPECT_EQ(o.node_name, "node-from-env");
  EXPECT_EQ(o.api_host, "10.0.0.1");
  EXPECT_EQ(o.api_port, "6443");
  ::unsetenv("K8S_NODE_NAME");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

// In-cluster mode with credential files: enabled, https only, so a plain-http peer fails the
// refresh instead of being spoken to in clear text (no GET request line ever reaches it).
TEST(PodMetadataClient, InClusterModeUsesHttpsOnly) {
  FakeApiServer srv([](const FakeRequest&) { return FakeResponse{200, "{}"}; });
  ASSERT_TRUE(srv.Start());
  auto dir = std::filesystem::temp_directory_path() / ("zt_k8s_sa_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "sa-token\n";
  std::ofstream(dir / "ca.crt") << "not a real CA\n";
  std::ofstream(dir / "namespace") << "zerotrace\n";
  PodMetadataClientOptions o;
  o.node_name = "node-a";
  o.api_host = "127.0.0.1";
  o.api_port = std::to_string(srv.port());
  o.service_account_dir = dir.string();
  o.request_timeout = 2s;
  PodMetadataClient c(o);
  EXPECT_TRUE(c.enabled()) << c.disabled_reason();
  EXPECT_FALSE(c.RefreshNow());
  EXPECT_FALSE(c.stats().last_error.empty());
  EXPECT_EQ(c.stats().refreshes_failed, 1u);
  for (const auto& r : srv.requests()) EXPECT_NE(r.method, "GET");
  std::filesystem::remove_all(dir);
}

// ---- Against the fake API server -------------------------------------------------------------

TEST(PodMetadataClient, ListsPodsOfThisNode) {
  const std::string body = pods_fixture();
  FakeApiServer srv([&](const FakeRequest&) { return FakeResponse{200, body}; });
  ASSERT_TRUE(srv.Start());
  PodMetadataClient c(test_options(srv));
  ASSERT_TRUE(c.enabled()) << c.disabled_reason();
  ASSERT_TRUE(c.RefreshNow()) << c.stats().last_error;

  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a&limit=500");
  EXPECT_EQ(reqs[0].authorization, "Bearer test-token");

  auto m = c.LookupContainer(kAppCid);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->namespace_name, "shop");
  EXPECT_EQ(m->pod_name, "checkout-7d9f8b6c5-x2x4q");
  EXPECT_EQ(m->container_name, "app");
  EXPECT_EQ(m->node_name, "node-a");
  EXPECT_EQ(c.LookupContainer(std::string("containerd://") + kAppCid), m);
  EXPECT_FALSE(c.LookupContainer(std::string(64, 'e')));

  // End to end from a cgroup line.
  auto cg = CgroupParser::Parse(
      "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2f4b9c1e_8d3a_4f5b_9c7e_"
      "1a2b3c4d5e6f.slice/cri-containerd-" +
      std::string(kAppCid) + ".scope\n");
  ASSERT_TRUE(cg);
  EXPECT_EQ(c.Lookup(*cg), m);
  // Pod-level fallback (a process in the pod slice but not in a known container).
  CgroupInfo pod_only;
  pod_only.pod_uid = "2f4b9c1e-8d3a-4f5b-9c7e-1a2b3c4d5e6f";
  auto p = c.Lookup(pod_only);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pod_name, "checkout-7d9f8b6c5-x2x4q");
  EXPECT_TRUE(p->container_name.empty());

  auto s = c.stats();
  EXPECT_EQ(s.refreshes_ok, 1u);
  EXPECT_EQ(s.containers, 6u);
  EXPECT_EQ(s.pods, 5u);
}

TEST(PodMetadataClient, FollowsContinueTokens) {
  const std::string page1 =
      R"({"kind":"PodList","metadata":{"continue":"tok/1+="},"items":[{"metadata":{"name":"a","namespace":"ns","uid":"u1"},"spec":{"nodeName":"node-a"},"status":{"containerStatuses":[{"name":"c","containerID":"containerd://)" +
      std::string(64, 'a') + R"("}]}}]})";
  const std::string page2 =
      R"({"kind":"PodList","metadata":{},"items":[{"metadata":{"name":"b","namespace":"ns","uid":"u2"},"spec":{"nodeName":"node-a"},"status":{"containerStatuses":[{"name":"c","containerID":"containerd://)" +
      std::string(64, 'b') + R"("}]}}]})";
  FakeApiServer srv([&](const FakeRequest& r) {
    if (r.target.find("continue=") == std::string::npos) return FakeResponse{200, page1};
    return FakeResponse{200, page2};
  });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);
  o.page_limit = 1;
  PodMetadataClient c(o);
  ASSERT_TRUE(c.RefreshNow()) << c.stats().last_error;
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[1].target.find("&limit=1&continue=tok%2F1%2B%3D"), std::string::npos)
      << reqs[1].target;
  EXPECT_EQ(c.LookupContainer(std::string(64, 'a'))->pod_name, "a");
  EXPECT_EQ(c.LookupContainer(std::string(64, 'b'))->pod_name, "b");
}

TEST(PodMetadataClient, FailedRefreshKeepsSnapshot) {
  const std::string body = pods_fixture();
  FakeApiServer srv([&](const FakeRequest&) { return FakeResponse{200, body}; });
  ASSERT_TRUE(srv.Start());
  PodMetadataClient c(test_options(srv));
  ASSERT_TRUE(c.RefreshNow());

  srv.set_handler([](const FakeRequest&) {
    return FakeResponse{403, R"({"kind":"Status","message":"pods is forbidden"})"};
  });
  EXPECT_FALSE(c.RefreshNow());
  EXPECT_NE(c.stats().last_error.find("403"), std::string::npos);
  EXPECT_TRUE(c.LookupContainer(kAppCid));  // still served from the last good list

  srv.set_handler([](const FakeRequest&) { return FakeResponse{200, "{garbage"}; });
  EXPECT_FALSE(c.RefreshNow());
  EXPECT_TRUE(c.LookupContainer(kAppCid));
  EXPECT_EQ(c.stats().refreshes_failed, 2u);
  EXPECT_EQ(c.stats().refreshes_ok, 1u);
}

TEST(PodMetadataClient, BackgroundRefreshPicksUpNewPods) {
  const std::string empty = R"({"kind":"PodList","metadata":{},"items":[]})";
  FakeApiServer srv([&](const FakeRequest&) { return FakeResponse{200, empty}; });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);
  o.refresh_interval = 50ms;
  PodMetadataClient c(o);
  ASSERT_TRUE(c.Start());
  EXPECT_FALSE(c.LookupContainer(kAppCid));

  const std::string body = pods_fixture();
  srv.set_handler([&](const FakeRequest&) { return FakeResponse{200, body}; });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!c.LookupContainer(kAppCid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(c.LookupContainer(kAppCid));
  c.Stop();
  const size_t n = srv.requests().size();
  EXPECT_GE(n, 2u);
  // Stopped means stopped: the refresh thread is joined, so a request for a refresh is never
  // served and nothing is in flight.
  c.RequestRefresh();
  const auto s = c.stats();
  EXPECT_EQ(s.refreshes_started, s.refreshes_ok + s.refreshes_failed);
  EXPECT_EQ(srv.requests().size(), n);
}

TEST(PodMetadataClient, UnknownPodTriggersEarlyRefresh) {
  const std::string empty = R"({"kind":"PodList","metadata":{},"items":[]})";
  FakeApiServer srv([&](const FakeRequest&) { return FakeResponse{200, empty}; });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);  // refresh_interval 1h: only an early refresh can help
  o.min_refresh_interval = 300ms;
  PodMetadataClient c(o);
  ASSERT_TRUE(c.Start());
  ASSERT_EQ(srv.requests().size(), 1u);

  const std::string body = pods_fixture();
  srv.set_handler([&](const FakeRequest&) { return FakeResponse{200, body}; });
  auto cg = CgroupParser::Parse(
      "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2f4b9c1e_8d3a_4f5b_9c7e_"
      "1a2b3c4d5e6f.slice/cri-containerd-" +
      std::string(kAppCid) + ".scope\n");
  ASSERT_TRUE(cg);
  // A burst of misses causes one early refresh, not one per lookup.
  for (int i = 0; i < 200; ++i) (void)c.Lookup(*cg);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::optional<PodMetadata> m;
  while (!(m = c.Lookup(*cg)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->container_name, "app");
  EXPECT_LE(srv.requests().size(), 3u);

  // Host processes (no pod) never trigger refreshes. (First let an early refresh requested by a
  // lookup that raced with the refresh above be served.)
  ASSERT_TRUE(WaitUntil([&] {
    const auto s = c.stats();
    return !s.early_refresh_pending && s.refreshes_started == s.refreshes_ok + s.refreshes_failed;
  }));
  const auto before = c.stats();
  const size_t n = srv.requests().size();
  CgroupInfo host;
  host.container_id = std::string(64, 'f');
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(c.Lookup(host));
  // A refresh is requested synchronously by the lookup that wants it: none was.
  EXPECT_EQ(c.stats().early_refreshes_requested, before.early_refreshes_requested);
  EXPECT_FALSE(c.stats().early_refresh_pending);
  EXPECT_EQ(srv.requests().size(), n);
  c.Stop();
}

TEST(PodMetadataClient, LookupByPidThroughProcRoot) {
  const std::string body = pods_fixture();
  FakeApiServer srv([&](const FakeRequest&) { return FakeResponse{200, body}; });
  ASSERT_TRUE(srv.Start());
  PodMetadataClient c(test_options(srv));
  ASSERT_TRUE(c.RefreshNow());
  auto dir =
      std::filesystem::temp_directory_path() / ("zt_k8s_hostproc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "777");
  std::ofstream(dir / "777" / "cgroup") << "0::/kubepods.slice/kubepods-besteffort.slice/"
                                           "kubepods-besteffort-pod9a8b7c6d_5e4f_4a3b_2c1d_"
                                           "0e9f8a7b6c5d.slice/crio-"
                                        << std::string(64, 'b') << ".scope\n";
  auto m = c.LookupPid(777, dir.string());
  auto none = c.LookupPid(778, dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->namespace_name, "ml");
  EXPECT_EQ(m->pod_name, "trainer-0");
  EXPECT_EQ(m->container_name, "pytorch");
  EXPECT_FALSE(none);
}

TEST(PodMetadataClient, ApiServerDownIsNotFatal) {
  FakeApiServer srv([](const FakeRequest&) { return FakeResponse{200, "{}"}; });
  ASSERT_TRUE(srv.Start());
  auto o = test_options(srv);
  srv.Stop();  // nothing listens on the port any more
  o.request_timeout = 1s;
  PodMetadataClient c(o);
  EXPECT_FALSE(c.Start());
  EXPECT_FALSE(c.LookupContainer(kAppCid));
  c.Stop();
}

}  // namespace
}  // namespace zerotrace::k8s
