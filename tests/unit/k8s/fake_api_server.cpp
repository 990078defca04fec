#include "fake_api_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace zerotrace::k8s::testing {

FakeApiServer::FakeApiServer(Handler h) : handler_(std::move(h)) {}
FakeApiServer::~FakeApiServer() { Stop(); }

bool FakeApiServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return false;
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;
  if (::listen(listen_fd_, 16) != 0) return false;
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
  return true;
}

void FakeApiServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

std::vector<FakeRequest> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_;
}

void FakeApiServer::set_handler(Handler h) {
  std::lock_guard<std::mutex> lk(mu_);
  handler_ = std::move(h);
}

void FakeApiServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void FakeApiServer::handle(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < (1u << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  FakeRequest r;
  size_t eol = req.find("\r\n");
  std::string line = req.substr(0, eol);
  size_t s1 = line.find(' ');
  size_t s2 = line.find(' ', s1 + 1);
  r.method = line.substr(0, s1);
  r.target = line.substr(s1 + 1, s2 - s1 - 1);
  size_t pos = eol + 2;
  while (pos < req.size()) {
    size_t e = req.find("\r\n", pos);
    if (e == std::string::npos || e == pos) break;
    std::string h = req.substr(pos, e - pos);
    std::string lower = h;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("authorization:", 0) == 0) {
      size_t v = h.find(':') + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      r.authorization = h.substr(v);
    }
    pos = e + 2;
  }
  Handler handler;
  {
    std::lock_guard<std::mutex> lk(mu_);
    requests_.push_back(r);
    handler = handler_;
  }
  FakeResponse resp = handler(r);
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) +
                    " X\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(resp.body.size()) + "\r\nConnection: close\r\n\r\n" + resp.body;
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace zerotrace::k8s::testing
