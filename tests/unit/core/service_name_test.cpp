#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/utf8.h"
#include "process/process_catalog.h"
#include "test_util.h"

namespace zerotrace {
namespace {

std::string Env(std::initializer_list<std::string> vars) {
  std::string blob;
  for (const auto& v : vars) blob += v + '\0';
  return blob;
}

TEST(ServiceNameTest, AHugeOtelServiceNameIsBounded) {
  const std::string huge(100 * 1024, 'x');
  const std::string name =
      ResolveServiceName(Env({"OTEL_SERVICE_NAME=" + huge}), std::nullopt, "exe", "comm");
  EXPECT_EQ(name.size(), kMaxLabelValueBytes);
  EXPECT_EQ(name.substr(0, 10), "xxxxxxxxxx");
}

TEST(ServiceNameTest, OtelServiceNameWins) {
  EXPECT_EQ(ResolveServiceName(Env({"PATH=/bin", "OTEL_SERVICE_NAME=checkout"}), "container",
                               "python3", "python3"),
            "checkout");
}

TEST(ServiceNameTest, EmptyOtelServiceNameIsIgnored) {
  EXPECT_EQ(ResolveServiceName(Env({"OTEL_SERVICE_NAME="}), std::nullopt, "nginx", "nginx"),
            "nginx");
}

TEST(ServiceNameTest, SimilarKeysDoNotMatch) {
  EXPECT_EQ(ResolveServiceName(Env({"XOTEL_SERVICE_NAME=bad", "OTEL_SERVICE_NAMES=bad"}),
                               std::nullopt, "app", "app"),
            "app");
}

// The name becomes a label value; a process may pick any bytes for it.
TEST(ServiceNameTest, NamesAreMadeValidUtf8) {
  EXPECT_EQ(ResolveServiceName(Env({"OTEL_SERVICE_NAME=caf\xe9"}), std::nullopt, "x", "x"),
            "caf\xEF\xBF\xBD");
  EXPECT_EQ(ResolveServiceName("", std::nullopt, "", "w\xff"), "w\xEF\xBF\xBD");
  EXPECT_EQ(ResolveServiceName(Env({"OTEL_SERVICE_NAME=caf\xc3\xa9"}), std::nullopt, "x", "x"),
            "caf\xc3\xa9");
}

TEST(ServiceNameTest, FallbackOrder) {
  EXPECT_EQ(ResolveServiceName("", std::string("web"), "python3", "python3"), "web");
  EXPECT_EQ(ResolveServiceName("", std::nullopt, "python3.11", "python3"), "python3.11");
  EXPECT_EQ(ResolveServiceName("", std::nullopt, "", "kworker"), "kworker");
  EXPECT_EQ(ResolveServiceName("", std::nullopt, "", ""), "unknown");
}

TEST(ProcessCatalogTest, ReadsThisProcessFromProc) {
  setenv("OTEL_SERVICE_NAME", "ignored-after-start", 1);  // /proc environ is the start-up env
  ProcessCatalog catalog;
  auto me = catalog.Lookup(static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(me->exe_name, "core_test");
  EXPECT_GT(me->start_time, 0u);
  EXPECT_TRUE(catalog.IsAlive(me->pid));
}

TEST(ProcessCatalogTest, DeadPidIsNotFoundAndSweepForgetsIt) {
  ProcessCatalog catalog;
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(catalog.Lookup(static_cast<uint32_t>(child)).has_value());
  EXPECT_EQ(catalog.size(), 1u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // Sweep reads /proc itself, whatever the cache says; a fresh catalog finds nothing either.
  auto gone = catalog.Sweep();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], static_cast<uint32_t>(child));
  EXPECT_EQ(catalog.size(), 0u);
  EXPECT_FALSE(catalog.Lookup(static_cast<uint32_t>(child)).has_value());
  EXPECT_FALSE(ProcessCatalog().Lookup(static_cast<uint32_t>(child)).has_value());
}

// A process found alive is trusted for a while without re-reading /proc (a connection-heavy
// node looked every process up per connection); after that, or when asked for a fresh answer,
// its exit is seen.
TEST(ProcessCatalogTest, CachedEntryIsTrustedForTheWindowOnly) {
  ProcessCatalog trusting("/proc", nullptr, std::chrono::hours(1));
  ProcessCatalog brief("/proc", nullptr, std::chrono::milliseconds(50));
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  const auto pid = static_cast<uint32_t>(child);
  ASSERT_TRUE(trusting.Lookup(pid).has_value());
  ASSERT_TRUE(brief.Lookup(pid).has_value());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(trusting.Lookup(pid).has_value());  // within the window: the cached metadata
  EXPECT_FALSE(trusting.LookupFresh(pid).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(brief.Lookup(pid).has_value());
}

// execve keeps the pid and its start time but replaces the program and its environment: a
// child looked up between fork and exec (named by its parent's environment) is named again
// after it execs, also by a catalog that would still trust its cached entry.
TEST(ProcessCatalogTest, AnExecIsANewProcessImage) {
  ProcessCatalog catalog("/proc", nullptr, std::chrono::hours(1));
  testing::Child sh(
      {"/bin/sh", "-c", "read cue; exec env OTEL_SERVICE_NAME=zt-after-exec /bin/sleep 30"});
  const auto pid = static_cast<uint32_t>(sh.pid());
  ASSERT_TRUE(testing::WaitFor([&] { return catalog.LookupFresh(pid).has_value(); },
                               std::chrono::seconds(10)));
  const auto before = catalog.Lookup(pid);
  EXPECT_NE(before->service_name, "zt-after-exec");
  sh.WriteLine("go");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/comm") == "sleep\n";
      },
      std::chrono::seconds(10)));
  const auto after = catalog.LookupFresh(pid);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->service_name, "zt-after-exec");
  EXPECT_EQ(after->exe_name, "sleep");
  EXPECT_EQ(after->start_time, before->start_time);
  EXPECT_EQ(catalog.Lookup(pid)->service_name, "zt-after-exec");
  EXPECT_TRUE(catalog.Sweep().empty());
}

TEST(ServiceNameTest, OtelServiceNameAloneHasNoFallback) {
  EXPECT_EQ(OtelServiceName(Env({"A=1", "OTEL_SERVICE_NAME=cart"})), "cart");
  EXPECT_EQ(OtelServiceName(Env({"A=1"})), std::nullopt);
  EXPECT_EQ(OtelServiceName(""), std::nullopt);
}

// An exited but unreaped child still has /proc/PID/stat, but its environ and exe are gone: a
// lookup then would name it by its comm, so it counts as gone (callers use the kernel's copy).
TEST(ProcessCatalogTest, ZombieIsNotLookedUp) {
  ProcessCatalog catalog;
  pid_t child = fork();
  if (child == 0) _exit(0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(catalog.Lookup(static_cast<uint32_t>(child)).has_value());
  waitpid(child, nullptr, 0);
}

TEST(ProcessCatalogTest, MissingProcRootIsHarmless) {
  ProcessCatalog catalog("/nonexistent-proc");
  EXPECT_FALSE(catalog.Lookup(1).has_value());
  EXPECT_TRUE(catalog.FindByComm("init").empty());
}

}  // namespace
}  // namespace zerotrace

namespace zerotrace {
namespace {

TEST(ProcessCatalogTest, KubernetesIdentityNamesTheServiceAndLabelsIt) {
  const uint32_t me = static_cast<uint32_t>(getpid());
  ProcessCatalog catalog("/proc", [me](uint32_t pid) -> std::optional<K8sIdentity> {
    if (pid != me) return std::nullopt;
    return K8sIdentity{"shop", "checkout-7d9f", "checkout", "node-1"};
  });
  auto info = catalog.Lookup(me);
  ASSERT_TRUE(info.has_value());
  // The test binary has no OTEL_SERVICE_NAME at start-up, so the container name wins over the exe.
  EXPECT_EQ(info->service_name, "checkout");
  auto labels = K8sLabels(info->k8s);
  EXPECT_EQ(labels["k8s_namespace_name"], "shop");
  EXPECT_EQ(labels["k8s_pod_name"], "checkout-7d9f");
  EXPECT_EQ(labels["k8s_container_name"], "checkout");
  EXPECT_EQ(labels["k8s_node_name"], "node-1");
  EXPECT_TRUE(K8sLabels(K8sIdentity{}).empty());
}

}  // namespace
}  // namespace zerotrace
