#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "aggregators/conn_tracker.h"

namespace zerotrace {

// Per-endpoint RED figures with exact percentiles, for `zerotrace attach`'s table. Durations are
// kept in a bounded reservoir per endpoint (uniform sample beyond the bound), so memory stays
// flat however long the attach runs.
class EndpointStats : public RequestConsumer {
 public:
  struct Key {
    std::string kind;      // "server" | "client"
    std::string protocol;  // "http" | "grpc"
    std::string method;    // HTTP method or gRPC "Service/Method"
    std::string route;
    auto operator<=>(const Key&) const = default;
  };
  struct Row {
    Key key;
    uint64_t count = 0;
    uint64_t errors = 0;  // HTTP 5xx, gRPC status != OK
    std::map<std::string, uint64_t> by_status;
    double p50 = 0, p95 = 0, p99 = 0, max = 0;  // seconds
  };

  explicit EndpointStats(size_t reservoir = 10000) : reservoir_(reservoir) {}
  void OnRequest(const protocols::RequestRecord& record, const ConnMeta& conn) override;
  void OnLost(protocols::Protocol, protocols::Role, protocols::LossReason, uint64_t requests,
              const ConnMeta&) override {
    unparsed_ += requests;
  }

  std::vector<Row> Rows() const;
  uint64_t unparsed() const { return unparsed_; }
  // A fixed-width table: ENDPOINT, COUNT, RATE/s, ERR%, P50, P95, P99 (ms).
  static std::string Table(const std::vector<Row>& rows, double seconds);
  static std::string Json(const std::vector<Row>& rows, double seconds);

 private:
  struct Acc {
    uint64_t count = 0, errors = 0;
    std::map<std::string, uint64_t> by_status;
    std::vector<double> sample;
    double max = 0;
  };
  size_t reservoir_;
  std::map<Key, Acc> acc_;
  uint64_t unparsed_ = 0;
  std::mt19937_64 rng_{42};
};

}  // namespace zerotrace
