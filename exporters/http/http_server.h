#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace zerotrace::http {

struct Request {
  std::string method;
  std::string path;                           // without the query string
  std::map<std::string, std::string> query;   // decoded query parameters
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

using Handler = std::function<Response(const Request&)>;

// Parses "a=1&b=x%20y" into decoded pairs (exposed for tests).
std::map<std::string, std::string> ParseQuery(const std::string& query);

// A small HTTP/1.1 server for the daemon's own endpoints (/metrics, /health, /ready,
// /flamegraph). One request per connection and a handful of scrapers at a time, so one thread
// accepting and serving in turn is enough; each connection has a read deadline and a size cap so
// a slow or hostile client cannot stall the scrape path or grow memory.
class Server {
 public:
  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Route(const std::string& path, Handler handler);
  // Binds and starts serving; returns an error message on failure, empty on success.
  std::string Start(const std::string& host, uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  void Loop();
  void Serve(int fd);

  std::map<std::string, Handler> routes_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace zerotrace::http
