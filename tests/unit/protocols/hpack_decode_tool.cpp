// Our HPACK decoder and HTTP/2 parser driven from a line protocol, for the differential test
// against python3-hpack (tests/unit/protocols/hpack_differential.py). Bytes travel as hex.
//
//   hpack mode (stdin):  "B <hex block>"   one header block of one connection, in order
//                        "N"               a new connection (fresh decoder)
//         (stdout):      "OK <n>" then n lines "<hex name> <hex value>", or "ERR <status>"
//   h2 mode (stdin):     "C <hex>" / "S <hex>"   bytes the client / server wrote
//         (stdout, at the end): one line a record,
//                        "R <stream> <parsed_ok> <hex method> <hex path> <hex host> <status>"
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "protocols/http2/hpack_decoder.h"
#include "protocols/http2/http2_parser.h"

namespace {

using zerotrace::protocols::HeaderHandler;
using zerotrace::protocols::HpackDecoder;
using zerotrace::protocols::HpackStatus;

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2 + 1);
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out.empty() ? "-" : out;
}

bool Unhex(std::string_view h, std::vector<uint8_t>* out) {
  if (h.size() % 2) return false;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < h.size(); i += 2) {
    const int a = v(h[i]), b = v(h[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<uint8_t>(a * 16 + b));
  }
  return true;
}

class Collect : public HeaderHandler {
 public:
  void OnHeader(std::string_view name, std::string_view value) override {
    lines.push_back(Hex(name) + " " + Hex(value));
  }
  std::vector<std::string> lines;
};

int HpackMode() {
  HpackDecoder decoder;
  decoder.SetAllowedMaxTableSize(HpackDecoder::kHardMaxTableSize);
  std::string line;
  std::vector<uint8_t> block;
  while (std::getline(std::cin, line)) {
    if (line == "N") {
      decoder = HpackDecoder();
      decoder.SetAllowedMaxTableSize(HpackDecoder::kHardMaxTableSize);
      continue;
    }
    if (line.size() < 2 || line[0] != 'B' || !Unhex(std::string_view(line).substr(2), &block)) {
      std::cerr << "bad input line\n";
      return 2;
    }
    Collect c;
    const HpackStatus st = decoder.Decode(block, c);
    if (st != HpackStatus::kOk) {
      std::cout << "ERR " << zerotrace::protocols::HpackStatusName(st) << "\n";
      continue;
    }
    std::cout << "OK " << c.lines.size() << "\n";
    for (const auto& l : c.lines) std::cout << l << "\n";
  }
  return 0;
}

int H2Mode() {
  zerotrace::protocols::Http2Parser::Options o;
  o.role = zerotrace::protocols::Role::kServer;
  zerotrace::protocols::Http2Parser parser(o);
  zerotrace::protocols::VectorSink sink;
  std::string line;
  std::vector<uint8_t> bytes;
  uint64_t ts = 0;
  while (std::getline(std::cin, line)) {
    if (line.size() < 2 || (line[0] != 'C' && line[0] != 'S') ||
        !Unhex(std::string_view(line).substr(2), &bytes)) {
      std::cerr << "bad input line\n";
      return 2;
    }
    parser.Feed(line[0] == 'C', ++ts, bytes, bytes.size(), sink);
  }
  for (const auto& r : sink.records) {
    std::cout << "R " << r.stream_id << " " << (r.parsed_ok ? 1 : 0) << " " << Hex(r.method) << " "
              << Hex(r.path) << " " << Hex(r.host) << " " << r.status_code << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc == 2 && std::strcmp(argv[1], "hpack") == 0) return HpackMode();
  if (argc == 2 && std::strcmp(argv[1], "h2") == 0) return H2Mode();
  std::fprintf(stderr, "usage: %s hpack|h2 < input\n", argv[0]);
  return 2;
}
