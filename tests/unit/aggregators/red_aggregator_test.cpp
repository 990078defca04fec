// RedAggregator: one histogram series per label set, and series idle past their TTL leave the
// registry (pods come and go with new k8s_pod_name values).
#include "aggregators/red_aggregator.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

namespace zerotrace {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

protocols::RequestRecord Request(const std::string& route, uint64_t end_ns) {
  protocols::RequestRecord r;
  r.protocol = protocols::Protocol::kHttp1;
  r.role = protocols::Role::kServer;
  r.parsed_ok = true;
  r.method = "GET";
  r.path = route;
  r.route = route;
  r.status_code = 200;
  r.start_ns = end_ns - 1000;
  r.end_ns = end_ns;
  return r;
}

uint64_t Requests(prometheus::Registry& registry, const std::string& pod) {
  uint64_t n = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "k8s_pod_name" && l.value == pod) n += m.histogram.sample_count;
      }
    }
  }
  return n;
}

TEST(RedAggregatorTest, IdleSeriesLeaveTheRegistry) {
  prometheus::Registry registry;
  RedAggregator red(registry, std::chrono::minutes(10));
  ConnMeta old_pod, new_pod;
  old_pod.service = new_pod.service = "checkout";
  old_pod.local_port = new_pod.local_port = 8080;
  old_pod.k8s = {{"k8s_pod_name", "checkout-1"}};
  new_pod.k8s = {{"k8s_pod_name", "checkout-2"}};
  const uint64_t t0 = 1000 * kSecond;
  red.OnRequest(Request("/a", t0), old_pod);
  red.OnRequest(Request("/a", t0 + 60 * kSecond), old_pod);
  red.OnRequest(Request("/a", t0 + 120 * kSecond), new_pod);
  EXPECT_EQ(red.series(), 2u);
  EXPECT_EQ(Requests(registry, "checkout-1"), 2u);
  red.RemoveIdleSeries(t0 + 9 * 60 * kSecond);
  EXPECT_EQ(red.series(), 2u);  // the old pod's last request was 8 minutes ago
  red.OnRequest(Request("/a", t0 + 11 * 60 * kSecond), new_pod);
  red.RemoveIdleSeries(t0 + 11 * 60 * kSecond + kSecond);
  EXPECT_EQ(red.series(), 1u);
  EXPECT_EQ(Requests(registry, "checkout-1"), 0u);
  EXPECT_EQ(Requests(registry, "checkout-2"), 2u);
  // A request brings a removed series back, counting from zero.
  red.OnRequest(Request("/a", t0 + 12 * 60 * kSecond), old_pod);
  EXPECT_EQ(Requests(registry, "checkout-1"), 1u);
}

}  // namespace
}  // namespace zerotrace
