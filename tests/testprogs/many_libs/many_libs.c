/* A process with more executable mappings than the unwinder describes (ZT_UNWIND_MAX_MAPPINGS):
 *   many_libs LIB DIR COUNT SECONDS
 * copies LIB (many_libs_lib.c, no SONAME) COUNT times into DIR, dlopens every copy (mmap puts
 * each new one lower), prints "ready", then alternates between calling the first copy's
 * lib_work (call_near: loaded first, highest) and the last one's (call_far: lowest) for SECONDS.
 * Built -O2 without frame pointers. The copies are removed at the end. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long (*work_fn)(unsigned long);
static volatile unsigned long sink;

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int copy_file(const char *from, const char *to)
{
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  char buf[65536];
  size_t n;
  int ok = in && out;
  while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0)
    ok = fwrite(buf, 1, n, out) == n;
  if (in)
    fclose(in);
  if (out && fclose(out) != 0)
    ok = 0;
  return ok ? 0 : -1;
}

__attribute__((noinline)) unsigned long call_near(work_fn f, unsigned long x)
{
  unsigned long r = f(x);
  sink = r;
  return r * 3;
}

__attribute__((noinline)) unsigned long call_far(work_fn f, unsigned long x)
{
  unsigned long r = f(x + 1);
  sink = r;
  return r * 5;
}

int main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: many_libs LIB DIR COUNT SECONDS\n");
    return 2;
  }
  const int count = atoi(argv[3]);
  const double seconds = atof(argv[4]);
  work_fn first = NULL, last = NULL;
  char path[4096];
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof(path), "%s/lib_copy_%03d.so", argv[2], i);
    if (copy_file(argv[1], path) != 0) {
      perror(path);
      return 1;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    work_fn f = h ? (work_fn)dlsym(h, "lib_work") : NULL;
    if (!f) {
      fprintf(stderr, "%s: %s\n", path, dlerror());
      return 1;
    }
    if (i == 0)
      first = f;
    last = f;
  }
  printf("ready\n");
  fflush(stdout);
  const double end = now_seconds() + seconds;
  unsigned long x = 1;
  while (now_seconds() < end) {
    x = call_near(first, x);
    x = call_far(last, x);
  }
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof(path), "%s/lib_copy_%03d.so", argv[2], i);
    unlink(path);
  }
  return (int)(x & 1);
}
