#include "aggregators/endpoint_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace zerotrace {

void EndpointStats::OnRequest(const protocols::RequestRecord& r, const ConnMeta&) {
  if (!r.parsed_ok || r.end_ns < r.start_ns) {
    ++unparsed_;
    return;
  }
  const bool grpc = r.protocol == protocols::Protocol::kGrpc;
  Key key{r.role == protocols::Role::kServer ? "server" : "client", grpc ? "grpc" : "http",
          grpc ? r.rpc_service + "/" + r.rpc_method : r.method, grpc ? "" : r.route};
  auto& a = acc_[key];
  ++a.count;
  const std::string status = grpc ? std::to_string(r.grpc_status) : std::to_string(r.status_code);
  ++a.by_status[status];
  if (grpc ? r.grpc_status != 0 : r.status_code >= 500) ++a.errors;
  const double d = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  a.max = std::max(a.max, d);
  if (a.sample.size() < reservoir_) {
    a.sample.push_back(d);
  } else {
    std::uniform_int_distribution<uint64_t> pick(0, a.count - 1);
    const uint64_t i = pick(rng_);
    if (i < reservoir_) a.sample[i] = d;
  }
}

std::vector<EndpointStats::Row> EndpointStats::Rows() const {
  std::vector<Row> rows;
  for (const auto& [key, a] : acc_) {
    Row row{key, a.count, a.errors, a.by_status};
    std::vector<double> s = a.sample;
    std::sort(s.begin(), s.end());
    // Nearest-rank percentiles: an actual observed duration, never an interpolation.
    auto q = [&](double p) {
      if (s.empty()) return 0.0;
      size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(s.size())));
      return s[std::min(s.size() - 1, rank == 0 ? 0 : rank - 1)];
    };
    row.p50 = q(0.50);
    row.p95 = q(0.95);
    row.p99 = q(0.99);
    row.max = a.max;
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.count > b.count; });
  return rows;
}

std::string EndpointStats::Table(const std::vector<Row>& rows, double seconds) {
  std::string out =
      fmt::format("{:<7} {:<5} {:<40} {:>7} {:>8} {:>6} {:>9} {:>9} {:>9}\n", "KIND", "PROTO",
                  "ENDPOINT", "COUNT", "RATE/s", "ERR%", "P50 ms", "P95 ms", "P99 ms");
  for (const auto& r : rows) {
    std::string endpoint = r.key.method + (r.key.route.empty() ? "" : " " + r.key.route);
    if (endpoint.size() > 40) endpoint = endpoint.substr(0, 37) + "...";
    out += fmt::format(
        "{:<7} {:<5} {:<40} {:>7} {:>8.2f} {:>6.1f} {:>9.2f} {:>9.2f} {:>9.2f}\n", r.key.kind,
        r.key.protocol, endpoint, r.count,
        seconds > 0 ? static_cast<double>(r.count) / seconds : 0.0,
        r.count ? 100.0 * static_cast<double>(r.errors) / static_cast<double>(r.count) : 0.0,
        r.p50 * 1e3, r.p95 * 1e3, r.p99 * 1e3);
  }
  if (rows.empty()) out += "(no HTTP or gRPC requests seen)\n";
  return out;
}

std::string EndpointStats::Json(const std::vector<Row>& rows, double seconds) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    j.push_back({{"kind", r.key.kind},
                 {"protocol", r.key.protocol},
                 {"method", r.key.method},
                 {"route", r.key.route},
                 {"count", r.count},
                 {"errors", r.errors},
                 {"by_status", r.by_status},
                 {"rate_per_second", seconds > 0 ? static_cast<double>(r.count) / seconds : 0.0},
                 {"p50_seconds", r.p50},
                 {"p95_seconds", r.p95},
                 {"p99_seconds", r.p99},
                 {"max_seconds", r.max}});
  }
  return j.dump(2);
}

}  // namespace zerotrace
