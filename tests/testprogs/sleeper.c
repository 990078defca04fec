/* Blocks for a known time inside one well-known function, for off-CPU profiles:
 *   sleeper [SLEEPS [SLEEP_MS]]   (default 10 x 100 ms)
 * Prints "ready", waits for a line ("go") on stdin, sleeps, prints "done", then waits for stdin
 * to close before exiting. The sleep is a raw nanosleep syscall issued from
 * wait_in_known_function itself: through libc's nanosleep (no frame pointers) the frame-pointer
 * unwinder would skip straight from libc to main and the function would not show. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

static inline __attribute__((always_inline)) long raw_nanosleep(const struct timespec *ts)
{
  long ret;
#if defined(__x86_64__)
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"((long)SYS_nanosleep), "D"(ts), "S"(0L)
                   : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_nanosleep;
  register long x0 __asm__("x0") = (long)ts;
  register long x1 __asm__("x1") = 0;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
  ret = x0;
#else
#error "unsupported architecture"
#endif
  return ret;
}

/* always_inline keeps the syscall instruction inside wait_in_known_function. */
static inline __attribute__((always_inline)) long sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  return raw_nanosleep(&ts);
}

__attribute__((noinline)) void wait_in_known_function(long sleeps, long ms)
{
  for (long i = 0; i < sleeps; i++)
    sleep_ms(ms);
}

int main(int argc, char **argv)
{
  long sleeps = argc > 1 ? atol(argv[1]) : 10;
  long ms = argc > 2 ? atol(argv[2]) : 100;
  char line[64];

  printf("ready\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin))
    return 1;
  wait_in_known_function(sleeps, ms);
  printf("done\n");
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin))
    ;
  return 0;
}
