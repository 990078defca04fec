#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/result.h"
#include "otlp/otlp_encoder.h"
#include "tracing/span.h"

namespace zerotrace::otlp {

// OTLP JSON lines: one ExportTraceServiceRequest (OTLP/JSON) per line, for
// `zerotrace attach --spans FILE` ("-" = stdout). Same secret filtering as the HTTP exporter.
// Thread-safe.
class OtlpFileExporter {
 public:
  // Truncates/creates `path`, or uses stdout for "-".
  static Result<std::unique_ptr<OtlpFileExporter>> Open(const std::string& path,
                                                        tracing::Resource default_resource = {},
                                                        EncodeOptions options = {});
  ~OtlpFileExporter();
  OtlpFileExporter(const OtlpFileExporter&) = delete;
  OtlpFileExporter& operator=(const OtlpFileExporter&) = delete;

  // Writes one line holding all `spans` (nothing for an empty span list).
  Status Export(std::span<const tracing::Span> spans);
  Status Flush();
  uint64_t spans_written() const;

 private:
  OtlpFileExporter(std::FILE* file, bool owned, tracing::Resource default_resource,
                   EncodeOptions options);

  std::FILE* file_;
  bool owned_;
  tracing::Resource default_resource_;
  EncodeOptions options_;
  mutable std::mutex mu_;
  uint64_t spans_written_ = 0;
};

}  // namespace zerotrace::otlp
