#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>
#include <unordered_map>

#include "aggregators/conn_tracker.h"
#include "core/expiring_series.h"

namespace zerotrace {

// RED metrics (rate, errors, duration) per OTel semantic conventions from completed requests:
// HTTP server/client histograms and gRPC server/client histograms. Requests that could not be
// parsed are counted per protocol instead of being guessed into a series.
class RedAggregator : public RequestConsumer {
 public:
  // `series_ttl`: a series with no request for this long leaves the registry (pods come and go
  // with new k8s_pod_name values, short-lived services end), so the daemon's series follow what
  // runs now; it comes back at 0 with its next request. Zero keeps every series.
  explicit RedAggregator(prometheus::Registry& registry,
                         std::chrono::seconds series_ttl = std::chrono::minutes(10));
  void OnRequest(const protocols::RequestRecord& record, const ConnMeta& conn) override;
  void OnLost(protocols::Protocol protocol, protocols::Role role, protocols::LossReason reason,
              uint64_t requests, const ConnMeta& conn) override;
  // Removes series idle past the TTL; `now_ns` is on the requests' clock (CLOCK_MONOTONIC).
  void RemoveIdleSeries(uint64_t now_ns);
  size_t series() const;

  // OTel's default explicit bucket boundaries for HTTP durations, in seconds.
  static const std::vector<double>& Buckets();

 private:
  prometheus::Family<prometheus::Histogram>& http_server_;
  prometheus::Family<prometheus::Histogram>& http_client_;
  prometheus::Family<prometheus::Histogram>& rpc_server_;
  prometheus::Family<prometheus::Histogram>& rpc_client_;
  prometheus::Family<prometheus::Counter>& lost_;
  // Series looked up by a flat key: building prometheus::Labels (a map of strings) and hashing
  // it for every request cost more than parsing the request. Bounded by the label cardinality.
  ExpiringSeries<prometheus::Histogram> http_server_series_;
  ExpiringSeries<prometheus::Histogram> http_client_series_;
  ExpiringSeries<prometheus::Histogram> rpc_server_series_;
  ExpiringSeries<prometheus::Histogram> rpc_client_series_;
  ExpiringSeries<prometheus::Counter> lost_series_;
  std::string key_;  // reused buffer
};

}  // namespace zerotrace
