#include "core/process_alive.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace zerotrace {

bool ProcessAlive(uint32_t pid, const std::string& proc_root) {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const char* paren = std::strrchr(buf, ')');
  if (!paren || paren[1] != ' ' || paren[2] == '\0') return true;
  const char state = paren[2];
  return state != 'Z' && state != 'X' && state != 'x';
}

}  // namespace zerotrace
