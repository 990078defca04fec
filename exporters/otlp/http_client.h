#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zerotrace::otlp {

struct HttpResponse {
  long status = 0;  // NOLINT(runtime/int) 0: no HTTP response (connection error, timeout)
  std::optional<std::chrono::seconds> retry_after;  // Retry-After (delay-seconds form), if sent
  std::string error;                                // transport error text when status == 0
  std::string body;                                 // first bytes of the response body
};

// Blocking HTTP POST over one libcurl easy handle (connections are reused). Not thread-safe:
// one per thread.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Post(const std::string& url, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zerotrace::otlp
