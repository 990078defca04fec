#pragma once

#include <string>
#include <string_view>

namespace zerotrace::protocols {

// "application/grpc", "application/grpc+proto", "application/grpc-web"...
bool IsGrpcContentType(std::string_view content_type);

// "/pkg.Service/Method" -> ("pkg.Service", "Method"). False when the path has another shape.
bool SplitGrpcPath(std::string_view path, std::string_view* service, std::string_view* method);

// Canonical upper-case name of a gRPC status code ("OK", "NOT_FOUND"); a code outside the 17
// the protocol defines as its number ("42"): on the wire it is not UNKNOWN (2), and naming it so
// would merge it with real UNKNOWN errors. One list for metrics and spans.
std::string GrpcStatusName(int code);

}  // namespace zerotrace::protocols
