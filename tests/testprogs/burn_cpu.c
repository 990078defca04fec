/* Burns CPU inside one well-known function so on-CPU profiles have an answer to check:
 *   burn_cpu [SECONDS]   (default 5; 0 = until killed)
 * Prints "ready" when it starts burning. Built with frame pointers (tests/testprogs); the hot
 * loop makes no calls (not even clock_gettime: the vDSO has no frame pointer and would hide
 * burn_cpu_for_test from the unwinder), so nearly every sample's leaf is burn_cpu_for_test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void burn_cpu_for_test(double seconds)
{
  const double end = now_seconds() + seconds;
  unsigned long x = 1;
  do {
    for (unsigned long i = 0; i < 20000000UL; i++)
      x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink = x;
  } while (seconds <= 0 || now_seconds() < end);
}

int main(int argc, char **argv)
{
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  printf("ready\n");
  fflush(stdout);
  burn_cpu_for_test(seconds);
  return 0;
}
