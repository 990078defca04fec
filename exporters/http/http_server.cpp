#include "http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace zerotrace::http {
namespace {

constexpr size_t kMaxRequestBytes = 16 * 1024;
constexpr int kReadTimeoutMs = 2000;

// Closes without a reset: a close() with unread request bytes makes the kernel answer RST, and
// the client then reports "connection reset" instead of the response it was sent. Ends our side,
// reads what the client still sends (briefly), then closes.
void CloseGracefully(int fd) {
  shutdown(fd, SHUT_WR);
  char sink[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0) break;
  }
  close(fd);
}

std::string Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && isxdigit(s[i + 1]) && isxdigit(s[i + 2])) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        out[PercentDecode(pair)] = "";
      } else {
        out[PercentDecode(pair.substr(0, eq))] = PercentDecode(pair.substr(eq + 1));
      }
    }
    pos = amp + 1;
  }
  return out;
}

Server::~Server() { Stop(); }

void Server::Route(const std::string& path, Handler handler) { Route(path, std::move(handler), 0); }

void Server::Route(const std::string& path, Handler handler, int max_concurrent) {
  RouteEntry e;
  e.handler = std::move(handler);
  e.max_concurrent = max_concurrent;
  routes_[path] = std::move(e);
}

std::string Server::Start(const std::string& host, uint16_t port) {
  if (host.empty()) {
    // Every address: one dual-stack socket, so IPv6-only and dual-stack clusters can scrape
    // without configuration; a node without IPv6 gets IPv4 alone.
    std::string error;
    listen_fd_ = ListenDualStack(port, &error);
    if (listen_fd_ >= 0) return Started();
    if (!error.empty()) {
      return "cannot listen on :" + std::to_string(port) + " (every address): " + error;
    }
    spdlog::info("IPv6 is not available on this host: listening on IPv4 addresses only");
    return Start("0.0.0.0", port);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve listen address " + host + ": " + gai_strerror(rc);
  }
  std::string error;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
      listen_fd_ = fd;
      break;
    }
    error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  if (listen_fd_ < 0) return "cannot listen on " + host + ":" + port_str + ": " + error;
  return Started();
}

int Server::ListenDualStack(uint16_t port, std::string* error) {
  // Without IPv6 (a kernel without it, ipv6.disable=1, or a socket that cannot take IPv4 too)
  // the caller falls back to IPv4: -1 with `error` empty. Anything else (the port taken, on
  // either family) is the user's to fix: -1 with `error` set.
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_any;
  a.sin6_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0) {
    const int err = errno;
    close(fd);
    if (err != EADDRNOTAVAIL && err != EAFNOSUPPORT) *error = std::strerror(err);
    return -1;
  }
  return fd;
}

std::string Server::Started() {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    port_ = ntohs(a6->sin6_port);
    inet_ntop(AF_INET6, &a6->sin6_addr, text, sizeof(text));
    int v6only = 1;
    socklen_t optlen = sizeof(v6only);
    getsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen);
    address_ = "[" + std::string(text) + "]:" + std::to_string(port_);
    dual_stack_ = !v6only && IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
  } else {
    const auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    port_ = ntohs(a4->sin_port);
    inet_ntop(AF_INET, &a4->sin_addr, text, sizeof(text));
    address_ = std::string(text) + ":" + std::to_string(port_);
  }
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return {};
}

void Server::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  // Handlers see stopping() and finish; their sockets have send timeouts, so this is bounded.
  while (in_flight_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void Server::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    // A short poll so Stop() is honoured quickly without extra wake-up machinery.
    if (poll(&p, 1, 200) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN || err == ECONNABORTED || err == EPROTO) continue;
      // The pending connection stays queued and poll() keeps saying so: without a pause this
      // loop would spin a core until the condition (EMFILE, ENOMEM, ...) clears.
      if (accept_failures_++ % 100 == 0) {
        spdlog::warn("metrics server cannot accept connections: {} (retrying every 100 ms)",
                     std::strerror(err));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    timeval send_timeout{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
    if (in_flight_ >= kMaxConnections) {
      SendAll(fd,
              "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      CloseGracefully(fd);
      continue;
    }
    ++in_flight_;
    std::thread([this, fd] {
      Serve(fd);
      CloseGracefully(fd);
      --in_flight_;
    }).detach();
  }
}

void Server::Serve(int fd) {
  std::string buf;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadTimeoutMs);
  while (buf.find("\r\n\r\n") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0 || buf.size() > kMaxRequestBytes) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return;
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return;
    buf.append(chunk, static_cast<size_t>(n));
  }
  Request req;
  const size_t line_end = buf.find("\r\n");
  const std::string line = buf.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  Response resp;
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    resp = {400, "text/plain", "malformed request line\n", {}};
  } else {
    req.method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = ParseQuery(target.substr(q + 1));
    req.client_gone = [fd] {
      pollfd p{fd, POLLRDHUP, 0};
      return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    };
    auto it = routes_.find(req.path);
    if (it == routes_.end()) {
      resp = {404, "text/plain", "not found; try /metrics, /health, /ready\n", {}};
    } else if (req.method != "GET" && req.method != "HEAD") {
      resp = {405, "text/plain", "only GET is supported\n", {}};
    } else if (const RouteEntry& route = it->second;
               route.max_concurrent > 0 && ++*route.in_flight > route.max_concurrent) {
      --*route.in_flight;
      resp = {429,
              "text/plain",
              req.path + " is already serving " + std::to_string(route.max_concurrent) +
                  " request(s); retry when one ends\n",
              {{"Retry-After", "10"}}};
    } else {
      try {
        resp = route.handler(req);
      } catch (const std::exception& e) {
        spdlog::warn("handler for {} failed: {}", req.path, e.what());
        resp = {500, "text/plain", std::string("internal error: ") + e.what() + "\n", {}};
      }
      if (route.max_concurrent > 0) --*route.in_flight;
    }
  }
  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) +
                     "\r\nContent-Type: " + resp.content_type +
                     "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                     "\r\nConnection: close\r\n";
  for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  SendAll(fd, head);
  if (req.method != "HEAD") SendAll(fd, resp.body);
}

}  // namespace zerotrace::http
