#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <unordered_map>

#include "aggregators/conn_tracker.h"

namespace zerotrace {

// RED metrics (rate, errors, duration) per OTel semantic conventions from completed requests:
// HTTP server/client histograms and gRPC server/client histograms. Requests that could not be
// parsed are counted per protocol instead of being guessed into a series.
class RedAggregator : public RequestConsumer {
 public:
  explicit RedAggregator(prometheus::Registry& registry);
  void OnRequest(const protocols::RequestRecord& record, const ConnMeta& conn) override;

  // OTel's default explicit bucket boundaries for HTTP durations, in seconds.
  static const std::vector<double>& Buckets();

 private:
  prometheus::Family<prometheus::Histogram>& http_server_;
  prometheus::Family<prometheus::Histogram>& http_client_;
  prometheus::Family<prometheus::Histogram>& rpc_server_;
  prometheus::Family<prometheus::Histogram>& rpc_client_;
  prometheus::Family<prometheus::Counter>& unparsed_;
  // Series looked up by a flat key: building prometheus::Labels (a map of strings) and hashing
  // it for every request cost more than parsing the request. Bounded by the label cardinality.
  std::unordered_map<std::string, prometheus::Histogram*> series_;
  std::string key_;  // reused buffer
};

}  // namespace zerotrace
