#pragma once

#include <string_view>

namespace zerotrace::protocols {

// "application/grpc", "application/grpc+proto", "application/grpc-web"...
bool IsGrpcContentType(std::string_view content_type);

// "/pkg.Service/Method" -> ("pkg.Service", "Method"). False when the path has another shape.
bool SplitGrpcPath(std::string_view path, std::string_view* service, std::string_view* method);

// Canonical upper-case name of a gRPC status code ("OK", "NOT_FOUND"), "UNKNOWN" when out of range.
std::string_view GrpcStatusName(int code);

}  // namespace zerotrace::protocols
