#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "otlp/otlp_encoder.h"

namespace zerotrace::otlp::testing {

// A minimal OTLP/HTTP receiver for tests: HTTP/1.1 on 127.0.0.1 only, one connection at a time,
// "Connection: close" replies, scripted status codes.
class TestOtlpReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;                            // as received (maybe gzip'd)
    std::chrono::steady_clock::time_point at;
  };
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };
  // Called for every request with its 0-based index.
  using Responder = std::function<Reply(const Request&, size_t index)>;

  TestOtlpReceiver() = default;
  ~TestOtlpReceiver() { Stop(); }

  // Listens on 127.0.0.1:port (0 = any free port). False on failure.
  bool Start(uint16_t port = 0);
  void Stop();
  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void set_responder(Responder r);
  std::vector<Request> requests() const;
  size_t request_count() const;
  // Waits until at least n requests were received.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  // Total spans in all successfully (2xx) answered requests.
  size_t accepted_spans() const;

  // Un-gzips (if Content-Encoding: gzip) and parses an OTLP protobuf body.
  static std::optional<ExportTraceServiceRequest> Decode(const Request& r);
  static std::optional<std::string> Body(const Request& r);  // un-gzipped body
  static size_t SpanCount(const ExportTraceServiceRequest& req);

 private:
  void Serve();
  void HandleConnection(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Responder responder_;
  std::vector<Request> requests_;
  size_t accepted_spans_ = 0;
};

}  // namespace zerotrace::otlp::testing
