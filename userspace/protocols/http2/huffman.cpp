#include "protocols/http2/huffman.h"

#include <array>
#include <string_view>

namespace zerotrace::protocols {
namespace {

struct Code {
  uint32_t bits;
  uint8_t len;
};

constexpr Code kCodes[257] = {
#include "protocols/http2/huffman_table.inc"
};

constexpr int kEos = 256;

// Binary decoding tree: node 0 is the root; child < 0 encodes the symbol -(child + 1).
struct Tree {
  std::array<std::array<int16_t, 2>, 512> child{};
  int nodes = 1;

  Tree() {
    for (int sym = 0; sym <= kEos; ++sym) {
      int n = 0;
      const Code c = kCodes[sym];
      for (int i = c.len - 1; i >= 0; --i) {
        const int bit = (c.bits >> i) & 1;
        if (i == 0) {
          child[n][bit] = static_cast<int16_t>(-(sym + 1));
        } else {
          if (child[n][bit] == 0) child[n][bit] = static_cast<int16_t>(nodes++);
          n = child[n][bit];
        }
      }
    }
  }
};

// Built once, immutable afterwards (thread-safe static initialization).
const Tree& DecodeTree() {
  static const Tree tree;
  return tree;
}

}  // namespace

bool HuffmanDecode(std::span<const uint8_t> in, std::string* out) {
  const Tree& t = DecodeTree();
  int node = 0;
  int depth = 0;  // bits consumed since the last symbol
  bool all_ones = true;
  for (uint8_t byte : in) {
    for (int i = 7; i >= 0; --i) {
      const int bit = (byte >> i) & 1;
      const int16_t next = t.child[node][bit];
      ++depth;
      all_ones &= bit == 1;
      if (next < 0) {
        const int sym = -(next + 1);
        if (sym == kEos) return false;
        out->push_back(static_cast<char>(sym));
        node = 0;
        depth = 0;
        all_ones = true;
      } else {
        node = next;
      }
    }
  }
  return depth <= 7 && all_ones;
}

void HuffmanEncode(std::string_view in, std::string* out) {
  uint64_t acc = 0;
  int nbits = 0;
  for (char ch : in) {
    const Code c = kCodes[static_cast<uint8_t>(ch)];
    acc = (acc << c.len) | c.bits;
    nbits += c.len;
    while (nbits >= 8) {
      nbits -= 8;
      out->push_back(static_cast<char>((acc >> nbits) & 0xff));
    }
  }
  if (nbits > 0) {
    // Pad with the most significant bits of EOS (all ones).
    out->push_back(static_cast<char>(((acc << (8 - nbits)) | (0xff >> nbits)) & 0xff));
  }
}

}  // namespace zerotrace::protocols
