// A C++ program built as distributions build (-O2, no frame pointers) for scripts/bench-unwind.sh:
// deep recursion (40 frames) whose leaf burns CPU, and every 64th leaf throws an exception caught
// 20 frames up, so the unwinder meets libstdc++, libgcc_s and a program's own frames.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

static volatile unsigned long sink;

__attribute__((noinline)) unsigned long Leaf(unsigned long x) {
  for (int i = 0; i < 200000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  if ((x & 63) == 0) throw std::runtime_error("leaf");
  return x;
}

__attribute__((noinline)) unsigned long Recurse(int depth, unsigned long x) {
  if (depth == 0) return Leaf(x);
  if (depth == 20) {
    try {
      return Recurse(depth - 1, x + 1) + 1;
    } catch (const std::exception&) {
      return x ^ 0x5a;
    }
  }
  unsigned long r = Recurse(depth - 1, x + 3);
  sink = r;
  return r + static_cast<unsigned long>(depth);
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  unsigned long x = 1;
  std::puts("ready");
  std::fflush(stdout);
  while (std::chrono::steady_clock::now() < end) x = Recurse(40, x);
  return static_cast<int>(x & 1);
}
