#include "protocols/grpc/grpc.h"

#include <array>

#include "protocols/common/text_util.h"

namespace zerotrace::protocols {

bool IsGrpcContentType(std::string_view content_type) {
  if (!StartsWithIgnoreCase(content_type, "application/grpc")) return false;
  if (content_type.size() == 16) return true;
  const char next = content_type[16];
  return next == '+' || next == '-' || next == ';';
}

bool SplitGrpcPath(std::string_view path, std::string_view* service, std::string_view* method) {
  if (path.size() < 4 || path[0] != '/') return false;
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 >= path.size()) return false;
  const std::string_view m = path.substr(slash + 1);
  if (m.find('/') != std::string_view::npos) return false;
  *service = path.substr(1, slash - 1);
  *method = m;
  return true;
}

std::string GrpcStatusName(int code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(kNames.size())) return std::to_string(code);
  return std::string(kNames[static_cast<size_t>(code)]);
}

}  // namespace zerotrace::protocols
