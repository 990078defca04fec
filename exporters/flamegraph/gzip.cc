#include "flamegraph/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace zerotrace::flamegraph {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip header instead of zlib's
constexpr int kAutoWindowBits = 15 + 32;  // accept gzip or zlib headers
constexpr size_t kChunk = 64 * 1024;

}  // namespace

Status GzipCompress(std::string_view in, std::string* out, int level) {
  out->clear();
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Error("gzip: deflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  size_t remaining = in.size();
  char buf[kChunk];
  int rc = Z_OK;
  do {
    // avail_in is 32-bit: feed huge inputs in slices.
    if (zs.avail_in == 0 && remaining > 0) {
      uInt take = static_cast<uInt>(std::min<size_t>(remaining, UINT_MAX));
      zs.avail_in = take;
      remaining -= take;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = deflate(&zs, remaining == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) {
      deflateEnd(&zs);
      return Status::Error("gzip: deflate failed");
    }
    out->append(buf, sizeof(buf) - zs.avail_out);
  } while (rc != Z_STREAM_END);
  deflateEnd(&zs);
  return Status::Ok();
}

Status GzipDecompress(std::string_view in, std::string* out, size_t max_out) {
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, kAutoWindowBits) != Z_OK) return Status::Error("gunzip: init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  size_t remaining = in.size();
  char buf[kChunk];
  int rc = Z_OK;
  while (true) {
    if (zs.avail_in == 0 && remaining > 0) {
      uInt take = static_cast<uInt>(std::min<size_t>(remaining, UINT_MAX));
      zs.avail_in = take;
      remaining -= take;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Status::Error(std::string("gunzip: corrupt input (") + (zs.msg ? zs.msg : "?") + ")");
    }
    out->append(buf, sizeof(buf) - zs.avail_out);
    if (out->size() > max_out) {
      inflateEnd(&zs);
      return Status::Error("gunzip: output exceeds limit");
    }
    if (rc == Z_STREAM_END) break;
    if (zs.avail_in == 0 && remaining == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Status::Error("gunzip: truncated input");
    }
  }
  inflateEnd(&zs);
  return Status::Ok();
}

}  // namespace zerotrace::flamegraph
