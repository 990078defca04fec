#include "k8s/pod_metadata_client.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

namespace zerotrace::k8s {

namespace {

constexpr size_t kMaxResponseBytes = 256u << 20;  // a page of 500 pods is a few MiB at most

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::string> read_file_trimmed(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string str_or_empty(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

size_t write_cb(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* out = static_cast<std::string*>(userdata);
  const size_t n = size * nmemb;
  if (out->size() + n > kMaxResponseBytes) return 0;  // aborts the transfer
  out->append(ptr, n);
  return n;
}

void global_curl_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string escape(CURL* curl, const std::string& s) {
  char* e = curl_easy_escape(curl, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

}  // namespace

std::string StripContainerIdScheme(std::string_view id) {
  auto pos = id.find("://");
  if (pos != std::string_view::npos) id = id.substr(pos + 3);
  std::string out(id);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ParsePodList(std::string_view json, std::string_view fallback_node, PodIndex& index,
                  std::string* error) {
  auto fail = [&](const std::string& msg) {
    if (error) *error = msg;
    return false;
  };
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("pod list: invalid JSON");
  if (!doc.is_object()) return fail("pod list: not a JSON object");
  const std::string kind = str_or_empty(doc, "kind");
  if (kind == "Status") return fail("pod list: API error: " + str_or_empty(doc, "message"));
  if (!kind.empty() && kind != "PodList") return fail("pod list: unexpected kind " + kind);
  auto items = doc.find("items");
  if (items == doc.end() || !(items->is_array() || items->is_null()))
    return fail("pod list: no items array");

  index.continue_token.clear();
  if (auto md = doc.find("metadata"); md != doc.end() && md->is_object())
    index.continue_token = str_or_empty(*md, "continue");
  if (items->is_null()) return true;

  for (const auto& pod : *items) {
    if (!pod.is_object()) continue;
    auto md = pod.find("metadata");
    if (md == pod.end() || !md->is_object()) continue;
    PodMetadata base;
    base.namespace_name = str_or_empty(*md, "namespace");
    base.pod_name = str_or_empty(*md, "name");
    base.pod_uid = str_or_empty(*md, "uid");
    if (auto spec = pod.find("spec"); spec != pod.end() && spec->is_object())
      base.node_name = str_or_empty(*spec, "nodeName");
    if (base.node_name.empty()) base.node_name = std::string(fallback_node);
    if (base.pod_name.empty()) continue;
    if (!base.pod_uid.empty()) index.by_pod_uid[base.pod_uid] = base;

    auto status = pod.find("status");
    if (status == pod.end() || !status->is_object()) continue;
    for (const char* field :
         {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
      auto list = status->find(field);
      if (list == status->end() || !list->is_array()) continue;
      for (const auto& cs : *list) {
        if (!cs.is_object()) continue;
        const std::string cid = str_or_empty(cs, "containerID");
        if (cid.empty()) continue;  // not started yet
        PodMetadata m = base;
        m.container_name = str_or_empty(cs, "name");
        index.by_container_id[StripContainerIdScheme(cid)] = std::move(m);
      }
    }
  }
  return true;
}

PodMetadataClientOptions PodMetadataClientOptions::FromEnv() {
  PodMetadataClientOptions o;
  o.node_name = getenv_str("K8S_NODE_NAME");
  if (o.node_name.empty()) o.node_name = getenv_str("NODE_NAME");
  o.api_host = getenv_str("KUBERNETES_SERVICE_HOST");
  o.api_port = getenv_str("KUBERNETES_SERVICE_PORT");
  return o;
}

PodMetadataClient::PodMetadataClient(PodMetadataClientOptions opts) : opts_(std::move(opts)) {
  index_ = std::make_shared<const PodIndex>();
  disabled_reason_ = Configure();
  enabled_ = disabled_reason_.empty();
  if (!enabled_) {
    spdlog::info("kubernetes metadata disabled: {}", disabled_reason_);
    return;
  }
  if (opts_.refresh_interval.count() <= 0) opts_.refresh_interval = std::chrono::seconds(30);
  if (opts_.page_limit == 0) opts_.page_limit = 500;
  global_curl_init();
}

std::string PodMetadataClient::Configure() {
  if (!opts_.test_api_base_url.empty()) {
    const bool plain = opts_.test_api_base_url.rfind("http://", 0) == 0;
    if (plain && !opts_.test_allow_plain_http)
      return "plain http API URL refused (test hook not enabled)";
    base_url_ = opts_.test_api_base_url;
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  } else {
    std::string host =
        opts_.api_host.empty() ? getenv_str("KUBERNETES_SERVICE_HOST") : opts_.api_host;
    std::string port =
        opts_.api_port.empty() ? getenv_str("KUBERNETES_SERVICE_PORT") : opts_.api_port;
    if (host.empty()) return "not running on Kubernetes (KUBERNETES_SERVICE_HOST unset)";
    if (port.empty()) port = "443";
    if (!file_exists(opts_.service_account_dir + "/token"))
      return "no service account token in " + opts_.service_account_dir;
    ca_file_ = opts_.service_account_dir + "/ca.crt";
    if (!file_exists(ca_file_)) return "no service account CA at " + ca_file_;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    base_url_ = "https://" + host + ":" + port;
  }
  if (opts_.node_name.empty()) return "node name unknown (set K8S_NODE_NAME from spec.nodeName)";
  return {};
}

PodMetadataClient::~PodMetadataClient() { Stop(); }

bool PodMetadataClient::Start() {
  if (!enabled_) return false;
  {
    std::lock_guard<std::mutex> lk(thread_mu_);
    if (thread_.joinable()) return true;
    stopping_ = false;
  }
  const bool ok = RefreshNow();
  if (ok) {
    auto s = stats();
    spdlog::info("kubernetes metadata: {} pods, {} containers on node {} (refresh every {} ms)",
                 s.pods, s.containers, opts_.node_name, opts_.refresh_interval.count());
  }
  std::lock_guard<std::mutex> lk(thread_mu_);
  thread_ = std::thread([this] { Run(); });
  return ok;
}

void PodMetadataClient::Stop() {
  {
    std::lock_guard<std::mutex> lk(thread_mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PodMetadataClient::Run() {
  using clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lk(thread_mu_);
  auto next = clock::now() + opts_.refresh_interval;
  while (!stopping_) {
    cv_.wait_until(lk, next, [this] { return stopping_ || refresh_requested_; });
    if (stopping_) break;
    if (refresh_requested_) {
      // Early refresh on demand, but never more often than min_refresh_interval.
      const auto earliest =
          clock::time_point(clock::duration(last_refresh_ns_.load())) + opts_.min_refresh_interval;
      if (clock::now() < earliest && cv_.wait_until(lk, earliest, [this] { return stopping_; }))
        break;
    }
    refresh_requested_ = false;
    lk.unlock();
    RefreshNow();
    lk.lock();
    next = clock::now() + opts_.refresh_interval;
  }
}

void PodMetadataClient::RequestRefresh() const {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lk(thread_mu_);
    refresh_requested_ = true;
    ++refreshes_requested_;
  }
  cv_.notify_all();
}

bool PodMetadataClient::RefreshNow() {
  if (!enabled_) return false;
  std::lock_guard<std::mutex> serialize(refresh_mu_);
  last_refresh_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.refreshes_started++;
  }
  auto fresh = std::make_shared<PodIndex>();
  std::string error;
  const bool ok = Fetch(*fresh, error);
  std::lock_guard<std::mutex> lk(mu_);
  if (ok) {
    fresh->continue_token.clear();
    stats_.containers = fresh->by_container_id.size();
    stats_.pods = fresh->by_pod_uid.size();
    stats_.refreshes_ok++;
    stats_.last_success = std::chrono::system_clock::now();
    index_ = std::move(fresh);
    stats_.last_error.clear();
  } else {
    // Warn on the first failure after a success, debug afterwards: no log flood on a flapping API.
    if (stats_.last_error.empty())
      spdlog::warn("kubernetes metadata refresh failed: {}", error);
    else
      spdlog::debug("kubernetes metadata refresh failed: {}", error);
    stats_.refreshes_failed++;
    stats_.last_error = error.empty() ? "unknown error" : error;
  }
  return ok;
}

bool PodMetadataClient::Fetch(PodIndex& out, std::string& error) {
  std::string token = opts_.test_token;
  if (opts_.test_api_base_url.empty()) {
    // Re-read every time: projected service-account tokens rotate (default hourly).
    auto t = read_file_trimmed(opts_.service_account_dir + "/token");
    if (!t || t->empty()) {
      error = "cannot read service account token";
      return false;
    }
    token = *t;
  }

  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    error = "curl_easy_init failed";
    return false;
  }
  CURL* c = curl.get();
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers_guard(headers, curl_slist_free_all);

  const bool allow_http = opts_.test_allow_plain_http && !opts_.test_api_base_url.empty();
  const std::string selector = escape(c, "spec.nodeName=" + opts_.node_name);
  std::string cont;
  for (int page = 0; page < 10000; ++page) {
    std::string url = base_url_ + "/api/v1/pods?fieldSelector=" + selector +
                      "&limit=" + std::to_string(opts_.page_limit);
    if (!cont.empty()) url += "&continue=" + escape(c, cont);
    std::string body;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.request_timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(opts_.request_timeout.count(), 5000)));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, allow_http ? "http,https" : "https");
#endif
    if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      error = std::string("GET ") + base_url_ + "/api/v1/pods: " + curl_easy_strerror(rc);
      return false;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      error = "GET /api/v1/pods: HTTP " + std::to_string(status);
      if (status == 401) error += " (token rejected)";
      if (status == 403) error += " (RBAC: the ClusterRole needs list on pods)";
      return false;
    }
    if (!ParsePodList(body, opts_.node_name, out, &error)) return false;
    cont = out.continue_token;
    if (cont.empty()) return true;
  }
  error = "pod list: too many pages";
  return false;
}

std::optional<PodMetadata> PodMetadataClient::LookupContainer(std::string_view container_id) const {
  if (!enabled_ || container_id.empty()) return std::nullopt;
  std::shared_ptr<const PodIndex> idx;
  {
    std::lock_guard<std::mutex> lk(mu_);
    idx = index_;
  }
  auto it = idx->by_container_id.find(StripContainerIdScheme(container_id));
  if (it == idx->by_container_id.end()) return std::nullopt;
  return it->second;
}

std::optional<PodMetadata> PodMetadataClient::LookupPod(std::string_view pod_uid) const {
  if (!enabled_ || pod_uid.empty()) return std::nullopt;
  std::shared_ptr<const PodIndex> idx;
  {
    std::lock_guard<std::mutex> lk(mu_);
    idx = index_;
  }
  auto it = idx->by_pod_uid.find(std::string(pod_uid));
  if (it == idx->by_pod_uid.end()) return std::nullopt;
  return it->second;
}

std::optional<PodMetadata> PodMetadataClient::Lookup(const CgroupInfo& cg) const {
  if (!enabled_) return std::nullopt;
  // One snapshot for both questions: with two, a refresh published in between answered "no such
  // container" from the old list and then the pod alone from the new one (a pod's process
  // labelled without its container).
  std::shared_ptr<const PodIndex> idx;
  {
    std::lock_guard<std::mutex> lk(mu_);
    idx = index_;
  }
  if (!cg.container_id.empty()) {
    auto it = idx->by_container_id.find(StripContainerIdScheme(cg.container_id));
    if (it != idx->by_container_id.end()) return it->second;
  }
  // A pod's process whose container is unknown: a new pod or a restarted container.
  if (cg.in_pod()) RequestRefresh();
  if (cg.pod_uid.empty()) return std::nullopt;
  auto it = idx->by_pod_uid.find(cg.pod_uid);
  if (it == idx->by_pod_uid.end()) return std::nullopt;
  return it->second;
}

std::optional<PodMetadata> PodMetadataClient::LookupPid(int pid,
                                                        const std::string& proc_root) const {
  if (!enabled_) return std::nullopt;
  auto cg = CgroupParser::ReadPid(pid, proc_root);
  if (!cg) return std::nullopt;
  return Lookup(*cg);
}

PodMetadataClientStats PodMetadataClient::stats() const {
  PodMetadataClientStats s;
  {
    std::lock_guard<std::mutex> lk(mu_);
    s = stats_;
  }
  std::lock_guard<std::mutex> lk(thread_mu_);
  s.early_refreshes_requested = refreshes_requested_;
  s.early_refresh_pending = refresh_requested_;
  return s;
}

}  // namespace zerotrace::k8s
