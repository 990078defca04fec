/* A program built as distributions build (-O2, no frame pointers) whose call chain is known:
 *   nofp_chain [SECONDS] [MODE]   MODE: burn (default) | sleep | read | cond | deep
 * main -> outer -> middle -> leaf; `burn` spins in leaf, `sleep` blocks in usleep() from leaf
 * (libc, also without frame pointers), `read` in read() of a 20 ms timerfd, `cond` in
 * pthread_cond_timedwait() (futex) for 20 ms; `deep` spins in leaf under 200 calls of recurse() (a
 * stack deeper than the profilers' 127 frames). Prints "ready" when it starts. Each function
 * does work after its call, so none is a tail call, and all are noinline. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
enum block_mode { BURN, SLEEP, READ, COND };
static enum block_mode mode;
static int timer_fd = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

/* Blocks about 20 ms the way `mode` says. */
static void block_20ms(void)
{
  if (mode == SLEEP) {
    usleep(20000);
  } else if (mode == READ) {
    uint64_t expirations;
    if (read(timer_fd, &expirations, sizeof(expirations)) < 0)
      exit(3);
  } else {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 20000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&mu);
    pthread_cond_timedwait(&never, &mu, &until);
    pthread_mutex_unlock(&mu);
  }
}

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long leaf(unsigned long x)
{
  if (mode != BURN) {
    block_20ms();
    return x + 1;
  }
  for (unsigned long i = 0; i < 5000000UL; i++)
    x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) unsigned long middle(unsigned long x)
{
  unsigned long r = leaf(x ^ 0x55);
  sink = r;
  return r * 3;
}

__attribute__((noinline)) unsigned long recurse(unsigned long x, int depth)
{
  unsigned long r = depth > 0 ? recurse(x + 1, depth - 1) : leaf(x);
  sink = r;
  return r + (unsigned long)depth;
}

__attribute__((noinline)) unsigned long outer(unsigned long x)
{
  unsigned long r = middle(x + 7);
  sink = r;
  return r + 11;
}

int main(int argc, char **argv)
{
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  const char *m = argc > 2 ? argv[2] : "burn";
  mode = strcmp(m, "sleep") == 0 ? SLEEP : strcmp(m, "read") == 0 ? READ
                                 : strcmp(m, "cond") == 0 ? COND : BURN;
  const int deep_mode = strcmp(m, "deep") == 0;
  if (mode == READ) {
    struct itimerspec every = {{0, 20000000}, {0, 20000000}};
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (timer_fd < 0 || timerfd_settime(timer_fd, 0, &every, NULL) != 0)
      return 2;
  }
  printf("ready\n");
  fflush(stdout);
  const double end = now_seconds() + seconds;
  unsigned long x = 1;
  do
    x = deep_mode ? recurse(x, 200) : outer(x);
  while (seconds <= 0 || now_seconds() < end);
  return (int)(x & 1);
}
