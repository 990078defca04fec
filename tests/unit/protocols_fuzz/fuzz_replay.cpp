// Runs the fuzz entry points without libFuzzer, with any compiler:
//   fuzz_replay [--target all|http1|hpack|http2|grpc] [--iterations N] [--seed S] [PATH...]
//   fuzz_replay --write-seeds DIR     (seed corpus for the libFuzzer binaries)
// Files (or every file of a directory) are replayed as-is; then N inputs are generated from a
// fixed seed by mutating built-in valid conversations, so a ctest run is short and repeatable.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_targets.h"

namespace fs = std::filesystem;
namespace fz = zerotrace::protocols::fuzz;

namespace {

using Target = int (*)(const uint8_t*, size_t);

struct NamedTarget {
  const char* name;
  Target fn;
};

constexpr NamedTarget kTargets[] = {{"http1", fz::FuzzHttp1},
                                    {"hpack", fz::FuzzHpack},
                                    {"http2", fz::FuzzHttp2},
                                    {"grpc", fz::FuzzGrpc}};

// Encodes `msg` as events in the ForEachEvent format of fuzz_targets.cpp.
void AppendEvents(bool dir, std::string_view msg, std::string* out) {
  while (!msg.empty()) {
    size_t k = (msg.size() - 1) / 4;
    if (k > 63) k = 63;
    const size_t len = k * 4 + 1;
    out->push_back(static_cast<char>((k << 2) | (dir ? 1 : 0)));
    out->append(msg.substr(0, len));
    msg.remove_prefix(len);
  }
}

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>(stream >> 24));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  f.append(payload);
  return f;
}

std::string Literal(std::string_view n, std::string_view v, bool index) {
  std::string s(1, index ? 0x40 : 0x00);
  s.push_back(static_cast<char>(n.size()));
  s.append(n);
  s.push_back(static_cast<char>(v.size()));
  s.append(v);
  return s;
}

std::vector<std::string> Seeds(std::string_view target) {
  std::vector<std::string> seeds;
  if (target == "http1") {
    std::string s;
    AppendEvents(true, "GET /users/123?x=1 HTTP/1.1\r\nHost: a\r\ntraceparent: 00-ab-cd-01\r\n\r\n",
                 &s);
    AppendEvents(false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &s);
    AppendEvents(true,
                 "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n"
                 "T: 1\r\n\r\n",
                 &s);
    AppendEvents(false, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", &s);
    seeds.push_back(s);
    std::string h;
    AppendEvents(true, "HEAD / HTTP/1.1\r\n\r\nGET /a HTTP/1.0\r\n\r\n", &h);
    AppendEvents(false, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody",
                 &h);
    seeds.push_back(h);
  } else if (target == "hpack") {
    const unsigned char c3[] = {64,   17,   0x82, 0x86, 0x84, 0x41, 0x0f, 'w',  'w',
                                'w',  '.',  'e',  'x',  'a',  'm',  'p',  'l',  'e',
                                '.',  'c',  'o',  'm',  6,    0x82, 0x86, 0x84, 0xbe,
                                0x20, 0x3f, 0x03, 0x3f, 0xe1, 0x1f, 0xbe};
    seeds.emplace_back(reinterpret_cast<const char*>(c3), sizeof(c3));
    const unsigned char c4[] = {64,   17,   0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2,
                                0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff};
    seeds.emplace_back(reinterpret_cast<const char*>(c4), sizeof(c4));
  } else if (target == "grpc") {
    // content-type, :path, grpc-status, then one request message and one response message.
    std::string s;
    for (std::string_view f : {"application/grpc", "/pkg.Greeter/SayHello", "0"}) {
      s.push_back(static_cast<char>(f.size()));
      s.append(f);
    }
    s.push_back(static_cast<char>((1 << 2) | 2));  // request, END_STREAM, 5 bytes
    s.append("\0\0\0\0\0", 5);
    s.push_back(static_cast<char>((2 << 2) | 1));  // response, 9 bytes
    s.append("\0\0\0\0\x04", 5);
    s.append("abcd");
    seeds.push_back(s);
  } else {
    std::string s(1, static_cast<char>(0x80));  // starts with the preface
    const std::string req = Literal(":method", "POST", true) + Literal(":path", "/p.S/M", true) +
                            Literal("content-type", "application/grpc", true);
    std::string settings = Frame(4, 0, 0, std::string("\0\x01\0\0\x10\0", 6));
    AppendEvents(true, settings + Frame(1, 4, 1, req) + Frame(0, 1, 1, "\0\0\0\0\x01z"), &s);
    AppendEvents(false,
                 settings + Frame(1, 4, 1, Literal(":status", "200", true)) +
                     Frame(0, 0, 1, "\0\0\0\0\x01y") +
                     Frame(1, 5, 1, Literal("grpc-status", "0", false)),
                 &s);
    AppendEvents(true,
                 Frame(1, 0x8 | 0x20, 3,
                       std::string("\x02\x80\0\0\x01\x10", 6) + "\xbe" + std::string("\0\0", 2)) +
                     Frame(9, 4 | 1, 3, "\xbf"),
                 &s);
    AppendEvents(
        false, Frame(3, 0, 3, std::string("\0\0\0\x08", 4)) + Frame(7, 0, 0, std::string(8, '\0')),
        &s);
    seeds.push_back(s);
  }
  return seeds;
}

std::string Mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937& rng) {
  const int n = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < n; ++i) {
    const size_t len = s.size();
    switch (rng() % 7) {
      case 0:  // flip a byte
        if (len) s[rng() % len] = static_cast<char>(rng());
        break;
      case 1:  // insert random bytes
        s.insert(len ? rng() % len : 0, std::string(1 + rng() % 4, static_cast<char>(rng())));
        break;
      case 2:  // delete a range
        if (len) s.erase(rng() % len, 1 + rng() % 16);
        break;
      case 3:  // duplicate a range
        if (len) {
          const size_t at = rng() % len;
          s.insert(at, s.substr(at, 1 + rng() % 32));
        }
        break;
      case 4:  // truncate
        if (len) s.resize(rng() % len);
        break;
      case 5: {  // splice another seed
        const std::string& o = seeds[rng() % seeds.size()];
        if (!o.empty()) s.append(o.substr(rng() % o.size()));
        break;
      }
      default:  // interesting values
        if (len) s[rng() % len] = static_cast<char>("\x00\xff\x7f\x80\r\n:;"[rng() % 8]);
        break;
    }
  }
  return s;
}

bool ReadFile(const fs::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void Run(const NamedTarget& t, const std::string& input) {
  // ZT_FUZZ_DUMP=FILE: every input is written there first, so a crash leaves it behind.
  if (const char* dump = std::getenv("ZT_FUZZ_DUMP")) {
    std::ofstream(dump, std::ios::binary | std::ios::trunc) << input;
  }
  t.fn(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "all";
  long iterations = 0;
  unsigned seed = 1;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--target" && i + 1 < argc) {
      target = argv[++i];
    } else if (a == "--iterations" && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--write-seeds" && i + 1 < argc) {
      const fs::path dir = argv[++i];
      for (const auto& t : kTargets) {
        fs::create_directories(dir / t.name);
        int k = 0;
        for (const auto& s : Seeds(t.name)) {
          std::ofstream(dir / t.name / ("seed" + std::to_string(k++)), std::ios::binary) << s;
        }
      }
      return 0;
    } else {
      paths.push_back(a);
    }
  }
  size_t replayed = 0;
  for (const auto& t : kTargets) {
    if (target != "all" && target != t.name) continue;
    for (const auto& p : paths) {
      std::vector<fs::path> files;
      if (fs::is_directory(p)) {
        for (const auto& e : fs::recursive_directory_iterator(p)) {
          if (e.is_regular_file()) files.push_back(e.path());
        }
      } else {
        files.push_back(p);
      }
      for (const auto& f : files) {
        std::string data;
        if (!ReadFile(f, &data)) {
          std::fprintf(stderr, "cannot read %s\n", f.c_str());
          return 2;
        }
        Run(t, data);
        ++replayed;
      }
    }
    const auto seeds = Seeds(t.name);
    for (const auto& s : seeds) Run(t, s);
    std::mt19937 rng(seed);
    for (long i = 0; i < iterations; ++i) {
      std::string input;
      if (i % 10 == 0) {
        input.resize(rng() % 512);
        for (auto& c : input) c = static_cast<char>(rng());
      } else {
        input = Mutate(seeds[rng() % seeds.size()], seeds, rng);
      }
      Run(t, input);
    }
  }
  std::printf("fuzz_replay: %zu files replayed, %ld generated inputs per target (seed %u)\n",
              replayed, iterations, seed);
  return 0;
}
