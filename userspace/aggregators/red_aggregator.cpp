#include "aggregators/red_aggregator.h"

#include "core/metric_family.h"

namespace zerotrace {

const std::vector<double>& RedAggregator::Buckets() {
  return metrics::BucketBoundaries(metrics::Buckets::kOtelSeconds);
}

RedAggregator::RedAggregator(prometheus::Registry& registry, std::chrono::seconds series_ttl)
    : http_server_(HistogramFamily(registry, "http_server_request_duration_seconds")),
      http_client_(HistogramFamily(registry, "http_client_request_duration_seconds")),
      rpc_server_(HistogramFamily(registry, "rpc_server_duration_seconds")),
      rpc_client_(HistogramFamily(registry, "rpc_client_duration_seconds")),
      lost_(CounterFamily(registry, "zerotrace_requests_lost_total")),
      http_server_series_(http_server_, series_ttl),
      http_client_series_(http_client_, series_ttl),
      rpc_server_series_(rpc_server_, series_ttl),
      rpc_client_series_(rpc_client_, series_ttl),
      lost_series_(lost_, series_ttl) {}

void RedAggregator::RemoveIdleSeries(uint64_t now_ns) {
  for (auto* s :
       {&http_server_series_, &http_client_series_, &rpc_server_series_, &rpc_client_series_}) {
    s->RemoveIdle(now_ns);
  }
  lost_series_.RemoveIdle(now_ns);
}

size_t RedAggregator::series() const {
  return http_server_series_.size() + http_client_series_.size() + rpc_server_series_.size() +
         rpc_client_series_.size();
}

void RedAggregator::OnRequest(const protocols::RequestRecord& r, const ConnMeta& conn) {
  const std::string protocol(protocols::ProtocolName(r.protocol));
  if (!r.parsed_ok || r.end_ns < r.start_ns) {
    OnLost(r.protocol, r.role, r.parsed_ok ? protocols::LossReason::kUnparsable : r.lost_reason, 1,
           conn);
    return;
  }
  const double seconds = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  const bool server = r.role == protocols::Role::kServer;
  const bool grpc = r.protocol == protocols::Protocol::kGrpc;
  const std::string grpc_code =
      grpc ? (r.grpc_status >= 0 ? std::to_string(r.grpc_status) : "unknown") : "";
  key_.clear();
  key_.append(server ? "s" : "c").append(grpc ? "g\x1f" : "h\x1f").append(conn.service);
  for (const auto& [k, v] : conn.k8s) key_.append("\x1f").append(v);
  if (grpc) {
    key_.append("\x1f").append(r.rpc_service).append("\x1f").append(r.rpc_method);
    key_.append("\x1f").append(grpc_code);
  } else {
    key_.append("\x1f").append(r.method).append("\x1f").append(r.route);
    key_.append("\x1f").append(std::to_string(r.status_code));
    if (server) key_.append("\x1f").append(std::to_string(conn.local_port));
  }
  auto& series = server ? (grpc ? rpc_server_series_ : http_server_series_)
                        : (grpc ? rpc_client_series_ : http_client_series_);
  auto make_labels = [&] {
    prometheus::Labels labels = conn.k8s;
    labels["service_name"] = conn.service;
    if (grpc) {
      labels["rpc_system"] = "grpc";
      labels["rpc_service"] = r.rpc_service;
      labels["rpc_method"] = r.rpc_method;
      labels["rpc_grpc_status_code"] = grpc_code;
    } else {
      labels["http_request_method"] = r.method;
      labels["http_response_status_code"] = std::to_string(r.status_code);
      labels["http_route"] = r.route;
      if (server) labels["server_port"] = std::to_string(conn.local_port);
    }
    return labels;
  };
  series.Get(key_, r.end_ns, make_labels, Buckets()).Observe(seconds);
}

void RedAggregator::OnLost(protocols::Protocol protocol, protocols::Role role,
                           protocols::LossReason reason, uint64_t requests, const ConnMeta& conn) {
  if (requests == 0) return;
  const std::string_view proto = protocols::ProtocolName(protocol);
  const std::string_view side = protocols::RoleName(role);
  const std::string_view why = protocols::LossReasonName(reason);
  key_.clear();
  key_.append(proto).append("\x1f").append(side).append("\x1f").append(why);
  key_.append("\x1f").append(conn.service);
  for (const auto& [k, v] : conn.k8s) key_.append("\x1f").append(v);
  auto make_labels = [&] {
    prometheus::Labels labels = conn.k8s;
    labels["service_name"] = conn.service;
    labels["protocol"] = std::string(proto);
    labels["side"] = std::string(side);
    labels["reason"] = std::string(why);
    return labels;
  };
  lost_series_.Get(key_, SteadyNs(), make_labels).Increment(static_cast<double>(requests));
}

}  // namespace zerotrace
