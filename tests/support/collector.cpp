#include "collector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include <regex>

namespace zerotrace::testing {

Collector::Collector(const std::string& binary, std::vector<std::string> extra_args,
                     std::vector<std::string> env) {
  log_path_ = TempDir() + "/zerotrace.log";
  std::vector<std::string> argv = {binary,     "--log-level", "debug",      "run",
                                   "--listen", "127.0.0.1:0", "--interval", "500ms"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv, std::move(env), log_path_);
}

Collector::~Collector() {
  child_->Signal(SIGTERM);
  child_->Wait(std::chrono::seconds(5));
}

std::chrono::milliseconds Collector::DefaultReadyTimeout() {
  const char* env = std::getenv("ZT_E2E_READY_TIMEOUT_S");
  const int seconds = env ? std::atoi(env) : 0;
  // Loading is verification, CPU-bound: a host busy with other tests (ctest -j) can take several
  // times as long as an idle one.
  return std::chrono::seconds(seconds > 0 ? seconds : 60);
}

std::string Collector::WaitReady(std::chrono::milliseconds timeout) {
  static const std::regex kServing(R"(serving on http://\S+:(\d+)/metrics)");
  const bool serving = WaitFor(
      [&] {
        std::smatch m;
        const std::string log = Log();
        if (!std::regex_search(log, m, kServing)) return false;
        port_ = std::stoi(m[1]);
        return true;
      },
      timeout);
  if (!serving) return "collector never started serving; log:\n" + Log();
  const bool ready = WaitFor([&] { return HttpGet(Url("/ready")).status == 200; }, timeout);
  if (!ready) return "collector not ready: " + HttpGet(Url("/ready")).body + "\nlog:\n" + Log();
  return {};
}

std::string Collector::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<Sample> Collector::Scrape() const {
  // A scrape that fails (a slow collector under an emulated kernel past the client timeout)
  // must not read as "no samples": a baseline of zeros makes every delta after it wrong. Retry
  // for a minute, then fail the test saying so.
  HttpResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    r = HttpGet(Url("/metrics"), 20000);
    if (r.status == 200) return ParsePrometheusText(r.body);
  } while (std::chrono::steady_clock::now() < deadline);
  ADD_FAILURE() << "scrape of " << Url("/metrics") << " failed: status " << r.status << " "
                << r.error;
  return {};
}

}  // namespace zerotrace::testing
