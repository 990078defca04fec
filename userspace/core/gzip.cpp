#include "core/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace zerotrace {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip header instead of zlib's
constexpr int kAutoWindowBits = 15 + 32;  // accept gzip or zlib headers
constexpr size_t kChunk = 64 * 1024;

// zlib's avail_in is 32-bit: huge inputs are fed in slices.
void FeedInput(z_stream& zs, size_t& remaining) {
  if (zs.avail_in != 0 || remaining == 0) return;
  const uInt take = static_cast<uInt>(std::min<size_t>(remaining, UINT_MAX));
  zs.avail_in = take;
  remaining -= take;
}

}  // namespace

Result<std::string> GzipCompress(std::string_view data, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Error{"gzip: deflateInit2 failed (level " + std::to_string(level) + ")"};
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  size_t remaining = data.size();
  std::string out;
  char buf[kChunk];
  int rc = Z_OK;
  do {
    FeedInput(zs, remaining);
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = deflate(&zs, remaining == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) {
      deflateEnd(&zs);
      return Error{"gzip: deflate failed"};
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (rc != Z_STREAM_END);
  deflateEnd(&zs);
  return out;
}

Result<std::string> GzipDecompress(std::string_view data, size_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, kAutoWindowBits) != Z_OK) return Error{"gunzip: init failed"};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  size_t remaining = data.size();
  std::string out;
  char buf[kChunk];
  while (true) {
    FeedInput(zs, remaining);
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = zs.msg ? zs.msg : "zlib error " + std::to_string(rc);
      inflateEnd(&zs);
      return Error{"gunzip: corrupt input (" + why + ")"};
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > max_output) {
      inflateEnd(&zs);
      return Error{"gunzip: output exceeds " + std::to_string(max_output) + " bytes"};
    }
    if (rc == Z_STREAM_END) break;
    if (zs.avail_in == 0 && remaining == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Error{"gunzip: truncated input"};
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace zerotrace
