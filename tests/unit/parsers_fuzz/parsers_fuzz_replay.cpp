// Replays the committed seed corpora through the fuzz entry points, with any compiler:
//   parsers_fuzz_replay [--target NAME] [--mutations N] CORPUS_DIR
// Every file of CORPUS_DIR/<target>/ is run as-is, then N deterministic variants of it
// (truncations and byte changes, the usual shapes of malformed input), so the ctest also covers
// inputs near the seeds. A crash reproducer kept in a corpus folder is replayed the same way.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "parsers_fuzz_targets.h"

namespace fs = std::filesystem;
namespace fz = zerotrace::fuzz;

namespace {

void Run(const fz::NamedTarget& t, const std::string& input) {
  // ZT_FUZZ_DUMP=FILE: every input is written there first, so a crash leaves it behind.
  if (const char* dump = std::getenv("ZT_FUZZ_DUMP")) {
    std::ofstream(dump, std::ios::binary | std::ios::trunc) << input;
  }
  t.fn(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  long mutations = 0;
  std::string corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--target" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
    } else {
      corpus = a;
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: %s [--target NAME] [--mutations N] CORPUS_DIR\n", argv[0]);
    return 2;
  }
  size_t files = 0;
  long inputs = 0;
  for (const auto& t : fz::kTargets) {
    if (!only.empty() && only != t.name) continue;
    const fs::path dir = fs::path(corpus) / t.name;
    if (!fs::is_directory(dir)) {
      std::fprintf(stderr, "no corpus folder %s\n", dir.c_str());
      return 1;
    }
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file()) paths.push_back(e.path());
    }
    std::sort(paths.begin(), paths.end());
    std::mt19937 rng(1);
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      const std::string seed((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      Run(t, seed);
      ++files;
      for (long m = 0; m < mutations && !seed.empty(); ++m) {
        std::string s = seed;
        switch (m % 4) {
          case 0:
            s.resize(rng() % s.size());
            break;
          case 1:
            s[rng() % s.size()] = static_cast<char>(rng());
            break;
          case 2:
            s[rng() % s.size()] = static_cast<char>("\x00\xff\x7f\x80\n/=:"[rng() % 8]);
            break;
          default:
            s.erase(rng() % s.size(), 1 + rng() % 64);
            break;
        }
        Run(t, s);
        ++inputs;
      }
    }
    if (paths.empty()) {
      std::fprintf(stderr, "corpus folder %s is empty\n", dir.c_str());
      return 1;
    }
  }
  std::printf("parsers_fuzz_replay: %zu corpus files, %ld variants\n", files, inputs);
  return 0;
}
