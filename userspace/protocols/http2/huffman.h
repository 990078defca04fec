#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace zerotrace::protocols {

// HPACK Huffman decoding (RFC 7541 §5.2, Appendix B). Appends to *out. False on an invalid
// encoding: EOS inside the string, padding longer than 7 bits, or padding not all ones.
bool HuffmanDecode(std::span<const uint8_t> in, std::string* out);

// Encoder, used by tests and fuzz drivers to build header blocks.
void HuffmanEncode(std::string_view in, std::string* out);

}  // namespace zerotrace::protocols
