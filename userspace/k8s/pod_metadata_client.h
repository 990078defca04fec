// PodMetadataClient: container id -> (namespace, pod, container, node) names from the Kubernetes
// API.
//
// In cluster it reads the service-account credentials
//   /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}
// and KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, then lists the pods scheduled on this node
//   GET
//   https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/pods?fieldSelector=spec.nodeName=<node>
// (paged with limit/continue), indexes containerStatuses[].containerID ("containerd://<id>") and
// refreshes the index on a background thread. Lookups never block on the network: they read the
// last good snapshot. A failed refresh keeps the previous snapshot.
//
// Off Kubernetes (no KUBERNETES_SERVICE_HOST or no token) the client is disabled: it logs one info
// line, Start() is a no-op and every lookup returns nullopt.
//
// RBAC needed: get/list/watch on pods, cluster-wide (deploy/kubernetes/base/rbac.yaml).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "k8s/cgroup_parser.h"

namespace zerotrace::k8s {

struct PodMetadata {
  std::string namespace_name;  // k8s_namespace_name
  std::string pod_name;        // k8s_pod_name
  std::string pod_uid;         // metadata.uid
  std::string container_name;  // k8s_container_name (empty for a pod-level lookup)
  std::string node_name;       // k8s_node_name

  bool operator==(const PodMetadata&) const = default;
};

// One parsed pod list: the index the client swaps in atomically after each refresh.
struct PodIndex {
  std::unordered_map<std::string, PodMetadata> by_container_id;  // key: bare lower-case id
  std::unordered_map<std::string, PodMetadata> by_pod_uid;       // container_name empty
  std::string continue_token;                                    // metadata.continue of the page
};

// Parses a v1 PodList JSON document (one page) and merges it into `index`. Containers come from
// containerStatuses, initContainerStatuses and ephemeralContainerStatuses; a containerID's
// "<runtime>://" scheme is stripped. `fallback_node` is used when spec.nodeName is missing.
// Returns false (and sets *error) when the document is not a PodList.
bool ParsePodList(std::string_view json, std::string_view fallback_node, PodIndex& index,
                  std::string* error = nullptr);

// "containerd://abc" -> "abc", "cri-o://abc" -> "abc", "abc" -> "abc" (lower-cased).
std::string StripContainerIdScheme(std::string_view container_id);

struct PodMetadataClientOptions {
  // This node's name (K8S_NODE_NAME from the downward API). Empty: the client is disabled, since
  // listing every pod of the cluster from every node does not scale.
  std::string node_name;
  std::chrono::milliseconds refresh_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  // API server host/port; empty = KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT.
  std::string api_host;
  std::string api_port;
  size_t page_limit = 500;
  // A lookup for a pod (cgroup with a pod UID) that is not in the snapshot -- a pod started since
  // the last list, or a restarted container -- wakes the refresh thread early, at most this often.
  std::chrono::milliseconds min_refresh_interval{std::chrono::seconds(5)};

  // ---- Test hooks. Never set these in production code. ----
  // Base URL ("http://127.0.0.1:PORT") and bearer token that replace the in-cluster discovery.
  std::string test_api_base_url;
  std::string test_token;
  // Plain http:// is refused unless this is true; only unit tests set it.
  bool test_allow_plain_http = false;

  // Fills node_name from K8S_NODE_NAME (else NODE_NAME) and api_host/api_port from
  // KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT.
  static PodMetadataClientOptions FromEnv();
};

struct PodMetadataClientStats {
  uint64_t refreshes_started = 0;  // ok + failed once none is in flight
  uint64_t refreshes_ok = 0;
  uint64_t refreshes_failed = 0;
  uint64_t early_refreshes_requested = 0;  // by lookups of unknown pods (RequestRefresh)
  bool early_refresh_pending = false;      // requested, not begun yet
  size_t containers = 0;
  size_t pods = 0;
  std::string last_error;
  std::chrono::system_clock::time_point last_success{};
};

class PodMetadataClient {
 public:
  explicit PodMetadataClient(PodMetadataClientOptions opts);
  ~PodMetadataClient();  // stops the refresh thread
  PodMetadataClient(const PodMetadataClient&) = delete;
  PodMetadataClient& operator=(const PodMetadataClient&) = delete;

  // False off Kubernetes or when the configuration is unusable (reason in disabled_reason()).
  bool enabled() const { return enabled_; }
  const std::string& disabled_reason() const { return disabled_reason_; }

  // Does one synchronous refresh, then starts the background thread. Returns the result of the
  // first refresh (the thread keeps retrying on failure). No-op returning false when disabled.
  bool Start();
  void Stop();

  // One synchronous list + swap. Thread-safe. False on any HTTP/parse error (snapshot kept).
  bool RefreshNow();

  // Lookups on the current snapshot; nullopt when unknown or disabled.
  std::optional<PodMetadata> LookupContainer(std::string_view container_id) const;
  std::optional<PodMetadata> LookupPod(std::string_view pod_uid) const;
  // Container id first, else the pod (container_name empty). A miss for a cgroup that belongs to a
  // pod calls RequestRefresh(), so new pods get their names within min_refresh_interval.
  std::optional<PodMetadata> Lookup(const CgroupInfo& cgroup) const;
  // Reads <proc_root>/<pid>/cgroup (CgroupParser::ReadPid) and calls Lookup(). proc_root is the
  // host's /proc as mounted in the collector (ZEROTRACE_PROC_ROOT, e.g. /host/proc).
  std::optional<PodMetadata> LookupPid(int pid, const std::string& proc_root = "/proc") const;

  // Asks the background thread (if started) for a refresh as soon as min_refresh_interval allows.
  void RequestRefresh() const;

  PodMetadataClientStats stats() const;
  const std::string& node_name() const { return opts_.node_name; }

 private:
  std::string Configure();  // empty = usable, else the reason the client is disabled
  bool Fetch(PodIndex& out, std::string& error);
  void Run();

  PodMetadataClientOptions opts_;
  bool enabled_ = false;
  std::string disabled_reason_;
  std::string base_url_;
  std::string ca_file_;

  mutable std::mutex mu_;  // guards index_ and stats_
  std::shared_ptr<const PodIndex> index_;
  PodMetadataClientStats stats_;

  std::mutex refresh_mu_;                    // serializes refreshes
  std::atomic<int64_t> last_refresh_ns_{0};  // steady_clock, start of the last refresh attempt
  mutable std::mutex thread_mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  mutable bool refresh_requested_ = false;    // guarded by thread_mu_
  mutable uint64_t refreshes_requested_ = 0;  // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace zerotrace::k8s
