#include "probes/tls_uprobe_manager.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <set>

#include "probes/bpf_util.h"
#include "probes/ssl_internals.h"
#include "probes/uprobe_target_file.h"
#include "sockets.skel.h"

namespace zerotrace {

TlsUprobeManager::TlsUprobeManager(sockets_bpf* skel, ProcessFilter& filter)
    : skel_(skel), filter_(filter) {}

TlsUprobeManager::~TlsUprobeManager() {
  std::vector<bpf_link*> links = ReleaseLinks();
  DestroyLinksConcurrently(links);
}

std::vector<bpf_link*> TlsUprobeManager::ReleaseLinks() {
  std::lock_guard lock(mu_);
  std::vector<bpf_link*> links;
  for (auto& [key, file] : files_) {
    links.insert(links.end(), file.links.begin(), file.links.end());
  }
  files_.clear();
  return links;
}

bool TlsUprobeManager::PerProcess() const { return filter_.enabled() && !filter_.by_comm(); }

std::string TlsUprobeManager::Key(const std::string& file, int pid) {
  return pid < 0 ? file : file + "@" + std::to_string(pid);
}

int TlsUprobeManager::ScanAll(const std::string& proc_root) {
  LibsslScanner scanner(proc_root);
  std::set<std::string> mapped;
  int added = 0;
  if (!PerProcess()) {
    const LibsslScanner::Files found = scanner.All();
    for (const auto& [file, path] : found) mapped.insert(Key(file, -1));
    added = AttachFiles(found, -1);
  } else {
    for (uint32_t pid : filter_.TracedPids()) {
      const LibsslScanner::Files found = scanner.Of(pid);
      for (const auto& [file, path] : found) mapped.insert(Key(file, static_cast<int>(pid)));
      added += AttachFiles(found, static_cast<int>(pid));
    }
  }
  // A full scan knows every file still mapped: the links of the others go. Each uprobe pins its
  // file's inode, so a deleted container layer's libssl would otherwise never be freed, and a
  // node that runs many short-lived containers would gather links without end.
  std::vector<bpf_link*> gone;
  {
    std::lock_guard lock(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (mapped.count(it->first)) {
        ++it;
        continue;
      }
      if (!it->second.links.empty()) {
        spdlog::info("sockets: TLS probes detached from {} (no traced process maps it now)",
                     it->second.path);
      }
      gone.insert(gone.end(), it->second.links.begin(), it->second.links.end());
      it = files_.erase(it);
    }
  }
  DestroyLinksConcurrently(gone);
  return added;
}

size_t TlsUprobeManager::attached_files() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, file] : files_) n += file.links.empty() ? 0 : 1;
  return n;
}

void TlsUprobeManager::Watch(const std::string& proc_root) {
  if (watch_) return;
  watch_ = std::make_unique<LibsslScanner>(proc_root);
  skel_->bss->tls_watch_exec = true;
}

void TlsUprobeManager::OnExec(uint32_t tgid) {
  if (!watch_) return;
  const auto now = LibsslScanner::Clock::now();
  watch_->Queue(tgid, std::chrono::milliseconds(20), now);
  watch_->Queue(tgid, std::chrono::milliseconds(500), now);
}

void TlsUprobeManager::OnFirstConnection(uint32_t tgid) {
  if (watch_) watch_->QueueFirstSeen(tgid, LibsslScanner::Clock::now());
}

void TlsUprobeManager::RunDueScans() {
  if (!watch_) return;
  const std::vector<uint32_t> due = watch_->TakeDue(LibsslScanner::Clock::now());
  if (due.empty()) return;
  if (PerProcess()) {
    const std::vector<uint32_t> traced = filter_.TracedPids();
    for (uint32_t pid : due) {
      if (std::find(traced.begin(), traced.end(), pid) == traced.end()) continue;
      AttachFiles(watch_->Of(pid), static_cast<int>(pid));
    }
    return;
  }
  LibsslScanner::Files found;
  for (uint32_t pid : due) found.merge(watch_->Of(pid));
  if (!found.empty()) AttachFiles(found, -1);
}

int TlsUprobeManager::AttachFiles(const LibsslScanner::Files& found, int pid) {
  struct Target {
    bpf_program* prog;
    const char* func;
    bool ret;
  };
  const Target public_targets[] = {
      {skel_->progs.tls_read_enter, "SSL_read", false},
      {skel_->progs.tls_read_exit, "SSL_read", true},
      {skel_->progs.tls_write_enter, "SSL_write", false},
      {skel_->progs.tls_write_exit, "SSL_write", true},
      {skel_->progs.tls_read_ex_enter, "SSL_read_ex", false},
      {skel_->progs.tls_read_ex_exit, "SSL_read_ex", true},
      {skel_->progs.tls_write_ex_enter, "SSL_write_ex", false},
      {skel_->progs.tls_write_ex_exit, "SSL_write_ex", true},
  };
  const Target handshake_targets[] = {
      {skel_->progs.tls_handshake_enter, "SSL_do_handshake", false},
      {skel_->progs.tls_handshake_exit, "SSL_do_handshake", true},
      {skel_->progs.tls_free, "SSL_free", false},
  };
  // The internal functions have the _ex signature (s, buf, num, size_t* count).
  const Target internal_targets[] = {
      {skel_->progs.tls_read_ex_enter, nullptr, false},
      {skel_->progs.tls_read_ex_exit, nullptr, true},
      {skel_->progs.tls_write_ex_enter, nullptr, false},
      {skel_->progs.tls_write_ex_exit, nullptr, true},
  };
  // An operator's way back to the public functions (ZEROTRACE_TLS_PUBLIC_FUNCTIONS=1).
  const char* force_public = std::getenv("ZEROTRACE_TLS_PUBLIC_FUNCTIONS");
  const bool try_internal = !(force_public && std::string(force_public) == "1");
  std::lock_guard lock(mu_);
  int added = 0;
  for (const auto& [file, path] : found) {
    const std::string key = Key(file, pid);
    if (files_.count(key)) continue;
    File& attached = files_[key];
    attached.path = path;
    std::vector<bpf_link*>& links = attached.links;
    // Before the first uprobe can fire, so syscalls under an SSL call are tied to it from the
    // start.
    skel_->bss->tls_probes_attached = true;
    // ssl_read_internal/ssl_write_internal when they can be found: one probe site per
    // direction, and one the kernel emulates instead of single-stepping (see ssl_internals.h).
    const std::optional<SslInternals> internals =
        try_internal ? FindSslInternals(path) : std::nullopt;
    // Attached through a descriptor of the file checked inside the process's root.
    const std::optional<UprobeTargetFile> target = UprobeTargetFile::Open(path);
    auto attach = [&](const Target& t, uint64_t offset) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = t.ret, .func_name = t.func);
      // pid -1: every process mapping this file (a comm selection or none); the kernel-side
      // selection filters them. With a pid selection the uprobe goes into those processes only:
      // other processes using the same libssl take no trap on each SSL call.
      if (!target) return false;
      bpf_link* link = bpf_program__attach_uprobe_opts(t.prog, pid, target->attach_path().c_str(),
                                                       offset, &opts);
      if (link) links.push_back(link);
      return link != nullptr;
    };
    int ok = 0;
    if (internals) {
      for (size_t i = 0; i < std::size(internal_targets); ++i) {
        ok += attach(internal_targets[i], i < 2 ? internals->read_offset : internals->write_offset);
      }
      if (ok != static_cast<int>(std::size(internal_targets))) {
        spdlog::warn("sockets: {}: internal SSL functions not probed, using the public ones", path);
        for (bpf_link* l : links) bpf_link__destroy(l);
        links.clear();
        ok = 0;
      }
    }
    const bool internal = ok > 0;
    if (!internal) {
      for (const auto& t : public_targets) ok += attach(t, 0);
    }
    // Link an SSL object over memory BIOs (asyncio) to its socket, and end an object's link when
    // it is freed; without them such a peer's requests are counted as unattributed TLS calls
    // or, with a reused SSL address, land on an old connection. The rest works.
    if (ok) {
      for (const auto& t : handshake_targets) {
        if (!attach(t, 0)) {
          spdlog::debug("sockets: {}: {} not probed", path, t.func);
          break;
        }
      }
    }
    if (ok) {
      ++added;
      const char* where = internal ? "internal read/write functions" : "public SSL functions";
      if (pid < 0) {
        spdlog::info("sockets: TLS plaintext capture attached to {} ({} probes, {})", path, ok,
                     where);
      } else {
        spdlog::info("sockets: TLS plaintext capture attached to {} in pid {} ({} probes, {})",
                     path, pid, ok, where);
      }
    } else {
      spdlog::warn("sockets: could not attach TLS probes to {}", path);
    }
  }
  return added;
}

}  // namespace zerotrace
