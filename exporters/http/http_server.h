#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace zerotrace::http {

struct Request {
  std::string method;
  std::string path;                          // without the query string
  std::map<std::string, std::string> query;  // decoded query parameters
  // True once the client closed its side or the connection broke: a long handler stops early.
  std::function<bool()> client_gone = [] { return false; };
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
// /flamegraph). One request per connection, each served on its own thread, at most
// kMaxConnections at once (more get 503). Routes added with a concurrency limit (a flamegraph
// records for N seconds) answer 429 beyond it, so they can never take the slots that scrapes
// and probes need. Each connection has a read deadline and a size cap so a slow or hostile
// client cannot stall the server or grow memory; rejected connections are closed after their
// request is read, so clients see the status rather than a reset.
class Server {
 public:
  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Route(const std::string& path, Handler handler);
  // A route served at most `max_concurrent` at a time; more get 429 with Retry-After.
  void Route(const std::string& path, Handler handler, int max_concurrent);
  // Binds and starts serving; returns an error message on failure, empty on success. An empty
  // host is every address: IPv6 and IPv4 (dual stack), or IPv4 alone without IPv6.
  std::string Start(const std::string& host, uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }
  // The bound address, e.g. "[::]:9464" or "127.0.0.1:9464"; dual_stack(): IPv4 clients too.
  const std::string& address() const { return address_; }
  bool dual_stack() const { return dual_stack_; }
  // True once Stop() began: long handlers poll this to return early.
  bool stopping() const { return stop_; }

  static constexpr int kMaxConnections = 32;
  // accept() failures other than a vanished client (descriptor limit, memory): each one pauses
  // the accept loop for 100 ms instead of letting it spin.
  uint64_t accept_failures() const { return accept_failures_; }
  // Connections accepted and being served now (at most kMaxConnections).
  int connections() const { return in_flight_; }

 private:
  static int ListenDualStack(uint16_t port, std::string* error);
  std::string Started();  // listen_fd_ is bound: start the accept loop
  struct RouteEntry {
    Handler handler;
    int max_concurrent = 0;  // 0: no limit of its own
    std::shared_ptr<std::atomic<int>> in_flight = std::make_shared<std::atomic<int>>(0);
  };
  void Loop();
  void Serve(int fd);

  std::map<std::string, RouteEntry> routes_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string address_;
  bool dual_stack_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> accept_failures_{0};
  std::thread thread_;
};

}  // namespace zerotrace::http
