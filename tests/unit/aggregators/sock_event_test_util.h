#pragma once

#include <cstdint>
#include <cstring>

#include "sockets.h"

namespace zerotrace::testing {

// The header of an event of one IPv4 connection (tgid, fd, gen), as the sockets probe makes
// it; its comm names the side ("client" or "server").
inline sock_event_header SockEventHeader(uint8_t type, uint64_t ts, uint32_t tgid, int32_t fd,
                                         uint64_t gen, uint8_t role) {
  sock_event_header h{};
  h.type = type;
  h.ts = ts;
  h.gen = gen;
  h.tgid = tgid;
  h.tid = tgid;
  h.fd = fd;
  h.role = role;
  h.family = 2;  // AF_INET
  std::strcpy(h.comm, role == SOCK_ROLE_CLIENT ? "client" : "server");
  return h;
}

}  // namespace zerotrace::testing
