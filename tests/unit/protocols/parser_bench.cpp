// Throughput of the HTTP/1 path: recorded-like keep-alive traffic through ConnectionParser with
// route templating, single thread. Prints requests/s/core.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "protocols/common/connection_parser.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/huffman.h"

namespace zt = zerotrace::protocols;

namespace {

class CountingSink : public zt::RecordSink {
 public:
  void OnRecord(const zt::RequestRecord& r) override {
    ++records;
    ok += r.parsed_ok ? 1 : 0;
    checksum += r.route.size() + static_cast<uint64_t>(r.status_code);
  }
  uint64_t records = 0;
  uint64_t ok = 0;
  uint64_t checksum = 0;
};

struct Exchange {
  std::string request;
  std::string response;
};

std::vector<Exchange> MakeTraffic(size_t n) {
  std::mt19937 rng(42);
  const char* agents[] = {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
                          "okhttp/4.12.0", "python-requests/2.31.0", "Go-http-client/1.1"};
  std::vector<Exchange> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng();
    std::string path;
    std::string method = "GET";
    std::string body;
    switch (r % 6) {
      case 0:
        path = "/api/v1/users/" + std::to_string(rng() % 100000);
        break;
      case 1:
        path = "/api/v1/orders/550e8400-e29b-41d4-a716-" + std::to_string(100000000000 + rng());
        break;
      case 2:
        path = "/api/v1/products?page=" + std::to_string(rng() % 50) + "&sort=price";
        break;
      case 3:
        method = "POST";
        path = "/api/v1/carts/" + std::to_string(rng() % 5000) + "/items";
        body = R"({"sku":"ABC-123","qty":2,"note":"gift wrap please"})";
        break;
      case 4:
        path = "/healthz";
        break;
      default:
        path = "/static/js/app.3f9a1c2b.js";
        break;
    }
    char tp[80];
    std::snprintf(tp, sizeof(tp), "00-%016lx%016lx-%016lx-01", static_cast<unsigned long>(rng()),
                  static_cast<unsigned long>(rng()), static_cast<unsigned long>(rng()));
    Exchange e;
    e.request = method + " " + path + " HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: " +
                agents[r % 4] +
                "\r\nAccept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, "
                "deflate, br\r\nConnection: keep-alive\r\ntraceparent: " +
                tp + "\r\nCookie: session=abcdef0123456789; theme=dark\r\n";
    if (!body.empty()) {
      e.request += "Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
      e.request += "\r\n";
    }
    const size_t resp_len = 200 + rng() % 1800;
    const int status = (r % 50 == 0) ? 500 : (r % 17 == 0 ? 404 : 200);
    std::string rbody(resp_len, 'x');
    if (r % 10 == 0) {
      // Chunked response in three chunks.
      char head[16];
      std::string chunked;
      for (int k = 0; k < 3; ++k) {
        std::snprintf(head, sizeof(head), "%zx\r\n", resp_len / 3);
        chunked += head + std::string(resp_len / 3, 'y') + "\r\n";
      }
      chunked += "0\r\n\r\n";
      e.response = "HTTP/1.1 " + std::to_string(status) +
                   " OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                   "Date: Tue, 24 Nov 2026 14:00:00 GMT\r\nServer: nginx/1.25.3\r\n\r\n" +
                   chunked;
    } else {
      e.response = "HTTP/1.1 " + std::to_string(status) +
                   " OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
                   std::to_string(resp_len) +
                   "\r\nDate: Tue, 24 Nov 2026 14:00:00 GMT\r\nServer: nginx/1.25.3\r\n"
                   "Cache-Control: no-store\r\nX-Request-Id: 8f14e45fceea167a5a36dedd4bea2543"
                   "\r\n\r\n" +
                   rbody;
    }
    out.push_back(std::move(e));
  }
  return out;
}


void PutInt(int prefix_bits, uint8_t first, uint64_t v, std::string* out) {
  const uint64_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  for (v -= max; v >= 128; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
  out->push_back(static_cast<char>(v));
}

// Literal field: 0x40 with incremental indexing, 0x00 without. Values are Huffman coded.
void PutLiteral(uint8_t kind, std::string_view name, std::string_view value, std::string* out) {
  out->push_back(static_cast<char>(kind));
  PutInt(7, 0, name.size(), out);
  out->append(name);
  std::string h;
  zt::HuffmanEncode(value, &h);
  PutInt(7, 0x80, h.size(), out);
  out->append(h);
}

void PutFrame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload,
              std::string* out) {
  zt::FrameHeader h;
  h.length = static_cast<uint32_t>(payload.size());
  h.type = type;
  h.flags = flags;
  h.stream_id = stream;
  zt::AppendFrameHeader(h, out);
  out->append(payload);
}

// gRPC unary calls on one connection, encoded like a real client/server would: the first call
// inserts the repeated fields into the HPACK tables, later calls reference them.
std::vector<Exchange> MakeGrpcTraffic(size_t n) {
  std::mt19937 rng(7);
  std::vector<Exchange> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t id = static_cast<uint32_t>(2 * i + 1);
    std::string req_block;
    req_block += '\x83';  // :method POST
    req_block += '\x86';  // :scheme http
    const char* methods[] = {"/shop.v1.Catalog/GetItem", "/shop.v1.Catalog/ListItems",
                             "/shop.v1.Cart/AddItem", "/grpc.health.v1.Health/Check"};
    PutLiteral(0x00, ":path", methods[rng() % 4], &req_block);
    if (i == 0) {
      PutLiteral(0x40, ":authority", "catalog.shop.svc.cluster.local:50051", &req_block);
      PutLiteral(0x40, "content-type", "application/grpc", &req_block);
      PutLiteral(0x40, "user-agent", "grpc-go/1.60.1", &req_block);
      PutLiteral(0x40, "te", "trailers", &req_block);
    } else {
      req_block += "\xc1\xc0\xbf\xbe";  // indices 65..62: authority, content-type, ua, te
    }
    char tp[80];
    std::snprintf(tp, sizeof(tp), "00-%016lx%016lx-%016lx-01", static_cast<unsigned long>(rng()),
                  static_cast<unsigned long>(rng()), static_cast<unsigned long>(rng()));
    PutLiteral(0x00, "traceparent", tp, &req_block);
    PutLiteral(0x00, "grpc-timeout", "999m", &req_block);
    Exchange e;
    PutFrame(1, zt::frame_flags::kEndHeaders, id, req_block, &e.request);
    PutFrame(0, zt::frame_flags::kEndStream, id, std::string(5 + 40 + rng() % 200, 'q'),
             &e.request);
    std::string resp_block, trailers;
    if (i == 0) {
      resp_block += '\x88';  // :status 200
      PutLiteral(0x40, "content-type", "application/grpc", &resp_block);
      PutLiteral(0x40, "grpc-status", "0", &trailers);
    } else {
      resp_block += "\x88\xbf";  // content-type is now second newest
      trailers += '\xbe';         // grpc-status: 0
    }
    PutFrame(1, zt::frame_flags::kEndHeaders, id, resp_block, &e.response);
    PutFrame(0, 0, id, std::string(5 + 100 + rng() % 900, 'r'), &e.response);
    PutFrame(1, zt::frame_flags::kEndHeaders | zt::frame_flags::kEndStream, id, trailers,
             &e.response);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // argv: [seconds] [distinct exchanges in the corpus] [connections] [http1|grpc]. A large corpus
  // makes every event a cache miss, like data fresh from a ring buffer written on another CPU.
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const size_t corpus = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  const std::string mode = argc > 4 ? argv[4] : "http1";
  const bool grpc = mode == "grpc";
  // HTTP/2 keeps HPACK state per connection, so the gRPC corpus is one connection's history.
  const size_t kConnections = grpc ? 1 : (argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 64);
  const auto traffic = grpc ? MakeGrpcTraffic(corpus == 0 ? 1 : corpus)
                            : MakeTraffic(corpus == 0 ? 1 : corpus);
  zt::RouteTemplater routes(100);
  std::vector<std::unique_ptr<zt::ConnectionParser>> conns;
  zt::ConnectionParser::Options o;
  o.role = zt::Role::kServer;
  o.templater = &routes;
  for (size_t i = 0; i < kConnections; ++i) conns.push_back(std::make_unique<zt::ConnectionParser>(o));
  CountingSink sink;
  size_t corpus_bytes = 0;
  for (const auto& e : traffic) corpus_bytes += e.request.size() + e.response.size();
  uint64_t bytes = 0;
  uint64_t ts = 1;
  if (grpc) {
    // The preface once; replaying exchange 0 later re-inserts the same HPACK entries, so the
    // indices of the following exchanges stay valid on every pass.
    zt::DataEvent ev;
    ev.direction = zt::Direction::kIngress;
    ev.captured = {reinterpret_cast<const uint8_t*>(zt::kHttp2Preface.data()),
                   zt::kHttp2Preface.size()};
    ev.size = zt::kHttp2Preface.size();
    conns[0]->OnData(ev, sink);
  }
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  size_t i = 0;
  while (elapsed < seconds) {
    for (int batch = 0; batch < 4096; ++batch, ++i) {
      const Exchange& e = traffic[i % traffic.size()];
      zt::ConnectionParser& c = *conns[i % kConnections];
      zt::DataEvent ev;
      ev.direction = zt::Direction::kIngress;
      ev.timestamp_ns = ts++;
      ev.captured = {reinterpret_cast<const uint8_t*>(e.request.data()), e.request.size()};
      ev.size = e.request.size();
      c.OnData(ev, sink);
      ev.direction = zt::Direction::kEgress;
      ev.timestamp_ns = ts++;
      ev.captured = {reinterpret_cast<const uint8_t*>(e.response.data()), e.response.size()};
      ev.size = e.response.size();
      c.OnData(ev, sink);
      bytes += e.request.size() + e.response.size();
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double rps = static_cast<double>(sink.records) / elapsed;
  std::printf("mode: %s\n", grpc ? "grpc (HTTP/2 + HPACK)" : "http1");
  std::printf("corpus: %zu exchanges (%.1f MiB), %zu connections\n", traffic.size(),
              static_cast<double>(corpus_bytes) / (1024.0 * 1024.0), kConnections);
  std::printf("requests: %llu (parsed_ok %llu) in %.2fs, routes %zu\n",
              static_cast<unsigned long long>(sink.records),
              static_cast<unsigned long long>(sink.ok), elapsed, routes.size());
  std::printf("throughput: %.0f requests/s/core, %.1f MiB/s\n", rps,
              static_cast<double>(bytes) / elapsed / (1024.0 * 1024.0));
  std::printf("checksum: %llu\n", static_cast<unsigned long long>(sink.checksum));
  return sink.ok == sink.records ? 0 : 1;
}
