// A tiny HTTP/1.1 server on 127.0.0.1 (loopback only, ephemeral port) that plays the Kubernetes API
// server in unit tests. One request per connection (Connection: close).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zerotrace::k8s::testing {

struct FakeRequest {
  std::string method;
  std::string target;  // path + query, as sent
  std::string authorization;
};

struct FakeResponse {
  int status = 200;
  std::string body;
};

class FakeApiServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeApiServer(Handler h);
  ~FakeApiServer();
  bool Start();  // binds 127.0.0.1:0
  void Stop();
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const;
  void set_handler(Handler h);

 private:
  void serve();
  void handle(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
};

}  // namespace zerotrace::k8s::testing
