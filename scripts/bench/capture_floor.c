// Loads capture_floor.bpf.c in one mode and, in ring mode, drains its ring every 2 ms (the way
// zerotrace's reader polls: records are submitted without wakeups, so epoll would never fire)
// until SIGINT/SIGTERM; then prints how many records it read.
//   capture_floor empty|decode|copy|ring|cpu-rings
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture_floor.skel.h"

static volatile sig_atomic_t stop;
static unsigned long long records;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_record(void *ctx, void *data, size_t size)
{
  (void)ctx, (void)data, (void)size;
  records++;
  return 0;
}

int main(int argc, char **argv)
{
  const char *modes[] = {"empty", "decode", "copy", "ring", "cpu-rings"};
  int mode = -1;
  for (int i = 0; argc == 2 && i < 5; i++)
    if (strcmp(argv[1], modes[i]) == 0) mode = i;
  if (mode < 0) {
    fprintf(stderr, "usage: %s empty|decode|copy|ring|cpu-rings\n", argv[0]);
    return 2;
  }
  struct capture_floor_bpf *skel = capture_floor_bpf__open();
  if (!skel) return 1;
  skel->rodata->mode = mode;
  if (capture_floor_bpf__load(skel) || capture_floor_bpf__attach(skel)) {
    fprintf(stderr, "capture_floor: load/attach failed (root? Linux 6.3+ for sock tracepoints)\n");
    return 1;
  }
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.records), on_record, NULL, NULL);
  if (!rb) return 1;
  int cpus = libbpf_num_possible_cpus();
  for (int cpu = 0; mode == 4 && cpu < cpus && cpu < 64; cpu++) {
    int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 4 << 20, NULL);
    if (fd < 0 || bpf_map_update_elem(bpf_map__fd(skel->maps.cpu_rings), &cpu, &fd, BPF_ANY) ||
        ring_buffer__add(rb, fd, on_record, NULL)) {
      fprintf(stderr, "capture_floor: per-CPU ring %d failed\n", cpu);
      return 1;
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while (!stop) {
    usleep(2000);
    ring_buffer__consume(rb);
  }
  ring_buffer__consume(rb);
  printf("capture_floor %s: %llu records\n", modes[mode], records);
  ring_buffer__free(rb);
  capture_floor_bpf__destroy(skel);
  return 0;
}
