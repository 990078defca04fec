#include "test_otlp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "core/gzip.h"

namespace zerotrace::otlp::testing {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 429:
      return "Too Many Requests";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

}  // namespace

bool TestOtlpReceiver::Start(uint16_t port) {
  Stop();
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return false;
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  stop_ = false;
  thread_ = std::thread([this] { Serve(); });
  return true;
}

void TestOtlpReceiver::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void TestOtlpReceiver::set_responder(Responder r) {
  std::lock_guard<std::mutex> lock(mu_);
  responder_ = std::move(r);
}

std::vector<TestOtlpReceiver::Request> TestOtlpReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t TestOtlpReceiver::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t TestOtlpReceiver::accepted_spans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_spans_;
}

bool TestOtlpReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void TestOtlpReceiver::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    HandleConnection(fd);
    close(fd);
  }
}

void TestOtlpReceiver::HandleConnection(int fd) {
  std::string data;
  char buf[65536];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
    header_end = data.find("\r\n\r\n");
    if (data.size() > (1u << 20) && header_end == std::string::npos) return;
  }
  Request req;
  req.at = std::chrono::steady_clock::now();
  std::string head = data.substr(0, header_end);
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.find(' ', sp1 + 1);
  req.method = request_line.substr(0, sp1);
  req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      req.headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
    }
    pos = e + 2;
  }
  size_t content_length = 0;
  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    content_length = std::stoul(it->second);
  }
  req.body = data.substr(header_end + 4);
  while (req.body.size() < content_length) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    req.body.append(buf, static_cast<size_t>(n));
  }

  Reply reply;
  {
    std::unique_lock<std::mutex> lock(mu_);
    size_t index = requests_.size();
    Responder responder = responder_;
    lock.unlock();
    if (responder) reply = responder(req, index);
    lock.lock();
    if (reply.status >= 200 && reply.status < 300) {
      if (auto decoded = Decode(req)) accepted_spans_ += SpanCount(*decoded);
    }
    requests_.push_back(req);
  }
  cv_.notify_all();
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) +
                    "\r\nContent-Type: application/x-protobuf\r\nContent-Length: " +
                    std::to_string(reply.body.size()) + "\r\nConnection: close\r\n";
  for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += reply.body;
  (void)!write(fd, out.data(), out.size());
}

std::optional<std::string> TestOtlpReceiver::Body(const Request& r) {
  auto it = r.headers.find("content-encoding");
  if (it != r.headers.end() && it->second == "gzip") {
    auto raw = GzipDecompress(r.body, 64u << 20);
    if (!raw) return std::nullopt;
    return *raw;
  }
  return r.body;
}

std::optional<ExportTraceServiceRequest> TestOtlpReceiver::Decode(const Request& r) {
  auto body = Body(r);
  if (!body) return std::nullopt;
  auto ct = r.headers.find("content-type");
  if (ct == r.headers.end() || ct->second != "application/x-protobuf") return std::nullopt;
  ExportTraceServiceRequest req;
  if (!req.ParseFromString(*body)) return std::nullopt;
  return req;
}

size_t TestOtlpReceiver::SpanCount(const ExportTraceServiceRequest& req) {
  size_t n = 0;
  for (const auto& rs : req.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += static_cast<size_t>(ss.spans_size());
  }
  return n;
}

}  // namespace zerotrace::otlp::testing
