// Where OpenSSL's SSL_read/SSL_read_ex and SSL_write/SSL_write_ex meet: the internal functions
// ssl_read_internal(s, buf, num, size_t* readbytes) and ssl_write_internal(s, buf, num, size_t*
// written) of OpenSSL 1.1.1 and 3.x, which both public variants call. Probing them instead of
// the four public functions matters for cost, not only for count: each public function starts
// with `sub $N,%rsp`, which x86 uprobes execute out of line with a single-step trap (≈ 10 µs per
// call on a Firecracker VM), while the internal ones start with `push`, which the kernel
// emulates (≈ 1 µs). See docs/benchmarks.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace zerotrace {

struct SslInternals {
  uint64_t read_offset = 0;  // file offsets, as uprobes take them
  uint64_t write_offset = 0;
};

// Found from the call targets in the first bytes of each public function: the target both
// SSL_read and SSL_read_ex call (likewise for write), inside the same executable section.
// nullopt when the file is not an OpenSSL >= 1.1.1 libssl or the wrappers do not agree (another
// build, LibreSSL, BoringSSL): the caller then probes the public functions.
std::optional<SslInternals> FindSslInternals(const std::string& path);

}  // namespace zerotrace
