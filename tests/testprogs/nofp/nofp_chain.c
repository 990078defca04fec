/* A program built as distributions build (-O2, no frame pointers) whose call chain is known:
 *   nofp_chain [SECONDS] [MODE]   MODE: burn (default) | sleep | deep
 * main -> outer -> middle -> leaf; `burn` spins in leaf, `sleep` blocks in usleep() from leaf
 * (libc, also without frame pointers); `deep` spins in leaf under 200 calls of recurse() (a
 * stack deeper than the profilers' 127 frames). Prints "ready" when it starts. Each function
 * does work after its call, so none is a tail call, and all are noinline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
static int sleep_mode;

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long leaf(unsigned long x)
{
  if (sleep_mode) {
    usleep(20000);
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
  sleep_mode = argc > 2 && strcmp(argv[2], "sleep") == 0;
  const int deep_mode = argc > 2 && strcmp(argv[2], "deep") == 0;
  printf("ready\n");
  fflush(stdout);
  const double end = now_seconds() + seconds;
  unsigned long x = 1;
  do
    x = deep_mode ? recurse(x, 200) : outer(x);
  while (seconds <= 0 || now_seconds() < end);
  return (int)(x & 1);
}
