#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "probes/libssl_scanner.h"
#include "probes/process_filter.h"

struct sockets_bpf;
struct bpf_link;

namespace zerotrace {

// The OpenSSL uprobes of the sockets probe (bpf/sockets.bpf.c's tls_* programs): which libssl
// files carry them, attached as scans find new files and detached when no traced process maps a
// file any more. With a pid selection each file is attached per selected process (other
// processes using the same libssl take no trap); otherwise once per file, for every process.
// Thread-safe: the periodic full scan and the sockets poller's targeted scans both attach.
class TlsUprobeManager {
 public:
  // `skel` is the loaded sockets skeleton (its programs and .bss flags); both must outlive this.
  TlsUprobeManager(sockets_bpf* skel, ProcessFilter& filter);
  ~TlsUprobeManager();  // detaches what is still attached
  TlsUprobeManager(const TlsUprobeManager&) = delete;
  TlsUprobeManager& operator=(const TlsUprobeManager&) = delete;

  // Attaches to every libssl a (traced) process maps that is not covered yet and detaches the
  // files none maps now. Returns the number of files newly attached.
  int ScanAll(const std::string& proc_root);
  // From now on, processes announced by OnExec/OnFirstConnection are scanned soon after
  // (RunDueScans), so a libssl they bring is covered within milliseconds.
  void Watch(const std::string& proc_root);
  // ld.so maps the libraries right after exec: the process is looked at twice, soon and later.
  void OnExec(uint32_t tgid);
  // A process started before zerotrace, or one that loads libssl late (dlopen): its first
  // connection is the moment it may start speaking TLS.
  void OnFirstConnection(uint32_t tgid);
  // Scans the processes whose time has come (call from the poller's thread).
  void RunDueScans();
  // Files (per process with a pid selection) with the uprobes attached now.
  size_t attached_files() const;
  // Hands every link over (the caller destroys them with its own, concurrently).
  std::vector<bpf_link*> ReleaseLinks();

 private:
  // Attaches the uprobes to each file not attached yet; returns how many were new.
  // `pid` -1: in every process mapping each file; else in that process only.
  int AttachFiles(const LibsslScanner::Files& found, int pid);
  bool PerProcess() const;
  static std::string Key(const std::string& file, int pid);

  sockets_bpf* skel_;
  ProcessFilter& filter_;
  mutable std::mutex mu_;
  // key (the file's dev:inode, "dev:inode@pid" with a pid selection) -> its path and uprobe
  // links; no links marks a file that could not be attached (not retried while it stays mapped).
  struct File {
    std::string path;
    std::vector<bpf_link*> links;
  };
  std::map<std::string, File> files_;
  std::unique_ptr<LibsslScanner> watch_;  // set once by Watch()
};

}  // namespace zerotrace
