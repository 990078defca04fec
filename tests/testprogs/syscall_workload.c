/* Makes an exact, distinctive set of syscalls when told to, so tests can assert exact counts:
 *   syscall_workload GETPPID_CALLS FAILING_OPENATS SLEEPS SLEEP_MS
 * Prints "ready", waits for a line on stdin, does the work, prints "done", then waits for stdin
 * to close before exiting (so the process is alive while the test scrapes). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  if (argc != 5) {
    fprintf(stderr, "usage: %s GETPPID_CALLS FAILING_OPENATS SLEEPS SLEEP_MS\n", argv[0]);
    return 2;
  }
  long getppids = atol(argv[1]), openats = atol(argv[2]), sleeps = atol(argv[3]);
  long sleep_ms = atol(argv[4]);
  char line[64];

  printf("ready\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin))
    return 1;
  for (long i = 0; i < getppids; i++)
    syscall(SYS_getppid);
  for (long i = 0; i < openats; i++)
    syscall(SYS_openat, AT_FDCWD, "/nonexistent/zerotrace-test-path", O_RDONLY);
  for (long i = 0; i < sleeps; i++) {
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    syscall(SYS_nanosleep, &ts, NULL);
  }
  printf("done\n");
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin))
    ;
  return 0;
}
