#include "protocols/common/record_labels.h"

#include "core/utf8.h"

#include <array>
#include <cstdint>
#include <utility>

namespace zerotrace::protocols {
namespace {

constexpr int kGrpcUnimplemented = 12;

}  // namespace

bool IsKnownHttpMethod(std::string_view m) {
  static constexpr std::array<std::string_view, 10> kMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"};
  for (auto k : kMethods) {
    if (m == k) return true;
  }
  return false;
}

void FinalizeLabels(RequestRecord& r, RouteTemplater* templater) {
  if (!r.method.empty() && !IsKnownHttpMethod(r.method)) r.method = "_OTHER";
  zerotrace::MakeValidUtf8(&r.path);
  const bool found = r.parsed_ok && r.status_code != 404 && r.grpc_status != kGrpcUnimplemented;
  if (templater != nullptr) {
    templater->Route(r.path, &r.route, found);
  } else {
    TemplatePath(r.path, &r.route);
  }
  if (r.route == RouteTemplater::kOverflowRoute && !r.rpc_service.empty()) {
    r.rpc_service.assign(RouteTemplater::kOverflowRoute);
    r.rpc_method.assign(RouteTemplater::kOverflowRoute);
  }
  zerotrace::BoundLabelValue(&r.route);
  zerotrace::BoundLabelValue(&r.host);  // validates UTF-8 too: one pass per request
  zerotrace::BoundLabelValue(&r.rpc_service);
  zerotrace::BoundLabelValue(&r.rpc_method);
}

}  // namespace zerotrace::protocols
