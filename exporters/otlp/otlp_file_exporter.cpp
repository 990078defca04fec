#include "otlp/otlp_file_exporter.h"

#include <cerrno>
#include <cstring>
#include <utility>

namespace zerotrace::otlp {

Result<std::unique_ptr<OtlpFileExporter>> OtlpFileExporter::Open(const std::string& path,
                                                                 tracing::Resource default_resource,
                                                                 EncodeOptions options) {
  if (path.empty()) return Error{"empty span output path"};
  std::FILE* f = nullptr;
  bool owned = path != "-";
  if (owned) {
    f = std::fopen(path.c_str(), "we");
    if (f == nullptr) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  } else {
    f = stdout;
  }
  return std::unique_ptr<OtlpFileExporter>(
      new OtlpFileExporter(f, owned, std::move(default_resource), std::move(options)));
}

OtlpFileExporter::OtlpFileExporter(std::FILE* file, bool owned, tracing::Resource default_resource,
                                   EncodeOptions options)
    : file_(file),
      owned_(owned),
      default_resource_(std::move(default_resource)),
      options_(std::move(options)) {}

OtlpFileExporter::~OtlpFileExporter() {
  if (owned_) {
    std::fclose(file_);
  } else {
    std::fflush(file_);
  }
}

Status OtlpFileExporter::Export(std::span<const tracing::Span> spans) {
  if (spans.empty()) return Status::Ok();
  std::string line = ToOtlpJson(BuildExportRequest(spans, default_resource_, options_));
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    return Error{std::string("write failed: ") + std::strerror(errno)};
  }
  spans_written_ += spans.size();
  return Status::Ok();
}

Status OtlpFileExporter::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::fflush(file_) != 0) return Error{std::string("flush failed: ") + std::strerror(errno)};
  return Status::Ok();
}

uint64_t OtlpFileExporter::spans_written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_written_;
}

}  // namespace zerotrace::otlp
