// SPDX-License-Identifier: GPL-2.0
/* Socket connections and their bytes, from tracepoints only (no kprobes needed). Two paths:
 * - sock tracepoints (Linux 6.3+, the default): sock:sock_{send,recv}_length fire inside
 *   sock_sendmsg/sock_recvmsg, i.e. only for socket I/O, with the struct sock at hand; the
 *   syscall's arguments (which buffer, which fd) come from the task's saved user registers.
 *   sock:inet_sock_set_state tells who opened a connection and when it ended.
 * - syscall tracepoints (fallback): an exit program on raw_syscalls (tp_btf or raw_tp) or a
 *   tracepoint pair per syscall. A program on every syscall of the host puts every task on the
 *   syscall slow path; on a busy loopback server that alone cost 7 % of throughput. */
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "sockets.h"

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7

const volatile __u32 capture_bytes = ZT_SOCK_MAX_CAPTURE;
const volatile __u32 self_tgid = 0; /* the collector itself: its own HTTP server is not traced */
const volatile __u64 ring_wakeup_bytes = 256 * 1024; /* loader sets: a quarter of a ring */
#define BULK_EVENT_BYTES 4096         /* an event copying this much is part of a bulk transfer */
#define BULK_WAKEUP_BYTES (64 * 1024)  /* wake the reader when bulk data piles up this high */
/* Set by the loader once an SSL uprobe is attached; until then no syscall looks for a TLS call. */
volatile bool tls_probes_attached = false;
/* Set by the loader when TLS capture is on: exec events tell it which processes to scan. */
volatile bool tls_watch_exec = false;
/* Set by userspace with its first capture hint; until then no event looks one up. */
volatile bool skips_active = false;

/* Syscall numbers for the raw_tp variant, set by the loader from <sys/syscall.h> (vmlinux.h has
 * no __NR_* constants). -1 = not on this architecture. */
const volatile long nr_read = -1, nr_write = -1, nr_readv = -1, nr_writev = -1, nr_recvfrom = -1,
                    nr_sendto = -1, nr_recvmsg = -1, nr_sendmsg = -1, nr_accept = -1,
                    nr_accept4 = -1, nr_connect = -1, nr_close = -1, nr_sendfile = -1,
                    nr_splice = -1;

#define MSG_PEEK 2

enum call_kind { CALL_PEEK = 0, CALL_BUF = 1, CALL_IOV = 2, CALL_MSG = 3, CALL_SIZE_ONLY = 4, CALL_ACCEPT = 5,
                 CALL_CONNECT = 6 };

struct call_args {
  __u64 buf; /* buffer, iovec array, or user_msghdr */
  __u32 iovcnt;
  __s32 fd;
  __u8 kind;
  __u8 direction;
};

struct conn_key {
  __u32 tgid;
  __s32 fd;
};

/* HTTP/2 frame boundaries of one direction (see SOCK_EV_H2_FRAMED). */
struct h2_track {
  __u64 next;  /* stream offset where the next frame header (or its missing part) starts */
  __u8 hdr[9]; /* a frame header split between two calls: its first `have` bytes */
  __u8 have;
  __u8 on;      /* 1: frames are being followed */
  __u8 in_data; /* the frame before `next` is DATA: its payload is not needed */
  __u8 pad[4];
};

struct conn_info {
  __u64 gen;
  __u64 off[2]; /* bytes seen per direction (stream offsets for capture hints) */
  __u8 is_socket; /* 0: a non-socket fd, remembered so it costs one lookup from now on */
  __u8 role;
  __u8 family;
  __u8 flags;     /* CONN_* */
  __u16 lport;
  __u16 rport;
  __u8 laddr[16];
  __u8 raddr[16];
  /* Last: only HTTP/2 connections (CONN_H2) read it, the per-call fields stay together. */
  struct h2_track h2[2]; /* by direction */
};

#define CONN_SEEN_DATA 1 /* the first payload byte was inspected */
#define CONN_TLS 2       /* TLS records on the wire: plaintext comes from the SSL uprobes */
#define CONN_CLOSED 4    /* sock path: TCP_CLOSE was reported */
#define CONN_SKIP_ALL 8  /* a "skip everything" hint was found: no more lookups, no events */
#define CONN_H2 16       /* HTTP/2 frames were followed in a direction (see h2) */
/* Flags of the byte stream rather than the socket: an SSL object's copy keeps its own. */
#define CONN_STREAM_FLAGS (CONN_SKIP_ALL | CONN_H2)

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct call_args);
} active SEC(".maps");

/* An SSL_read/SSL_write in progress on a thread. The socket syscall it makes underneath tells
 * which fd the SSL object uses; a call served from OpenSSL's buffers makes none, hence ssl_conns. */
struct tls_call {
  __u64 ssl;
  __u64 buf;
  __u64 bytes_ptr; /* SSL_*_ex: where the byte count is written */
  __u8 direction;
};

struct ssl_key {
  __u32 tgid;
  __u32 pad;
  __u64 ssl;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct tls_call);
} tls_active SEC(".maps");

/* Processes whose environment was already sent with an OPEN event. Keyed by start time too: a
 * reused pid is a new process, whose first connection must carry its own environment. */
struct env_key {
  __u32 tgid;
  __u32 pad;
  __u64 start_time; /* the thread group leader's, ns since boot */
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct env_key);
  __type(value, __u8);
} env_sent SEC(".maps");

/* The connection an SSL object was last seen doing socket I/O on. A copy, not a reference: the
 * uretprobe cannot reach socket storage, and the copy stays valid for an SSL_read served from
 * OpenSSL's buffers after the socket's entry changed. */
struct ssl_conn {
  struct conn_info info;
  __s32 fd;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ssl_key);
  __type(value, struct ssl_conn);
} ssl_conns SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_SOCK_MAX_CONNS);
  __type(key, struct conn_key);
  __type(value, struct conn_info);
} conns SEC(".maps");

/* sock tracepoint path: the connection lives in its socket's local storage, so it is found
 * without a hash lookup, cannot be confused with a later socket on the same fd, and is freed
 * with the socket. The role is recorded when the handshake completes (in softirq, any process),
 * the owner when the first bytes are seen. */
struct sk_conn {
  struct conn_info info; /* info.gen == 0: no bytes seen yet (or closed) */
  __u32 tgid;
  __s32 fd;
};

struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct sk_conn);
} sk_conns SEC(".maps");

/* One ring per CPU group (cpu % ring_count), filled by the loader: a ring shared by every CPU
 * cost each event its spinlock and producer cache line taken from the other CPUs (≈ 150 ns per
 * event, scripts/bench-capture-floor.sh). Userspace merges the rings by timestamp. */
struct sock_ring {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1024 * 1024); /* the template; the loader sizes the real ones */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, ZT_SOCK_MAX_RINGS);
  __type(key, __u32);
  __array(values, struct sock_ring);
} events SEC(".maps");

const volatile __u32 ring_count = 1;

/* This CPU's ring; NULL only if the loader did not fill its slot. */
static __always_inline void *cpu_ring(void)
{
  __u32 i = bpf_get_smp_processor_id() % ring_count;
  return bpf_map_lookup_elem(&events, &i);
}

/* bpf_ringbuf_output on this CPU's ring; non-zero when the record was not written. */
static __always_inline long ring_output(void *data, __u64 size, __u64 flags)
{
  void *ring = cpu_ring();
  return ring ? bpf_ringbuf_output(ring, data, size, flags) : -1;
}

/* Written by userspace only (capture hints, see sockets.h). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_SOCK_MAX_CONNS);
  __type(key, struct sock_skip_key);
  __type(value, struct sock_skip_value);
} skips SEC(".maps");

/* One scratch event per CPU. A plain array indexed by CPU because per-CPU map values are capped
 * at 32 KiB; the loader sizes it to the number of possible CPUs. Programs do not migrate. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sock_data_event);
} scratch SEC(".maps");

/* DATA frames from this size on are not copied past their header (see h2_copy_end). */
#define H2_DATA_COPY_MIN 8192

/* Set by the loader when bpf_loop() exists (5.17+): HTTP/2 frame following needs it. */
const volatile bool h2_follow = false;

/* One HTTP/2 frame walk per CPU: the call's pieces (its buffer or iovecs) and what it found. */
struct h2_walk {
  __u64 base[ZT_SOCK_MAX_IOV]; /* user address of each piece */
  __u64 end[ZT_SOCK_MAX_IOV];  /* call position where each piece ends */
  struct iovec iov[ZT_SOCK_MAX_IOV];
  __u32 pieces;
  __u32 cur;  /* the piece the last read started in (positions only grow) */
  __u64 pos;  /* call position of the next header byte to read */
  __u64 len;  /* the call's byte count */
  __u64 head; /* bytes [0, head) are in the event itself */
  __u64 buf;  /* the call's buffer, iovec array or msghdr */
  __u64 sum;  /* bytes of the pieces set up so far */
  __u32 iovcnt;
  __u32 kind;
  __u8 hdr[32]; /* 9 used; room for the masked offset + size the verifier is shown */
  __u32 in_data;
  __u32 have;
  __u32 lost;
  __u32 nseg;
  __u32 pad;
  __u32 seg_from[ZT_H2_MAX_SEGMENTS];
  __u32 seg_to[ZT_H2_MAX_SEGMENTS];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct h2_walk);
} h2_walks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SOCK_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &reason);
  if (v)
    *v += 1;
}

/* task -> files -> fdt -> fd[fd] -> file -> socket, or NULL for anything but a socket. */
static __always_inline struct socket *fd_to_socket(int fd)
{
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
    return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  if (!file)
    return NULL;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK)
    return NULL;
  return (struct socket *)BPF_CORE_READ(file, private_data);
}

/* Fills `info` for a TCP socket over IPv4/IPv6; false for anything else. */
static __always_inline bool describe_sock(struct sock *sk, struct conn_info *info)
{
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6)
    return false;
  info->family = family;
  info->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
  info->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  /* Read into typed locals: BPF_CORE_READ_INTO copies sizeof(*dst), one byte for a __u8[16]. */
  if (family == AF_INET) {
    __u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(info->laddr, &l, 4);
    __builtin_memcpy(info->raddr, &r, 4);
  } else {
    struct in6_addr l = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
    struct in6_addr r = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
    __builtin_memcpy(info->laddr, &l, 16);
    __builtin_memcpy(info->raddr, &r, 16);
  }
  return true;
}

static __always_inline bool describe_socket(int fd, struct conn_info *info)
{
  struct socket *sock = fd_to_socket(fd);
  if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
    return false;
  struct sock *sk = BPF_CORE_READ(sock, sk);
  return sk && describe_sock(sk, info);
}

static __always_inline void fill_header(struct sock_event_header *h, __u64 id, int fd,
                                        const struct conn_info *c, __u8 type)
{
  h->ts = bpf_ktime_get_ns();
  h->gen = c->gen;
  h->tgid = id >> 32;
  h->tid = (__u32)id;
  h->fd = fd;
  h->type = type;
  h->role = c->role;
  h->family = c->family;
  h->lport = c->lport;
  h->rport = c->rport;
  __builtin_memcpy(h->laddr, c->laddr, 16);
  __builtin_memcpy(h->raddr, c->raddr, 16);
  h->size = 0;
  h->captured = 0;
  h->direction = 0;
  h->stream_off = 0;
  h->captured_from = 0;
  h->flags = 0;
  h->segments = 0;
  h->reserved = 0;
  /* comm only matters when a connection is opened (naming); skip it on the per-syscall path */
  if (type == SOCK_EVENT_OPEN)
    bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Waking the reader per event costs a context switch per syscall of a busy server; the reader
 * polls on a short timer instead, and is woken only when the buffer fills up. Asking the ring
 * how full it is is itself a helper call, so only one event in 64 (by the timestamp's low bits)
 * asks: at most 64 events (1 MiB) pass between checks, far below the ring's size. */
static __always_inline __u64 wakeup_flags(__u64 ts, __u32 captured)
{
  /* A bulk transfer is the exception: a body of declared length is skipped in the kernel only
   * once the reader has parsed its headers (a capture hint), and at 1 GB/s a 1 MiB body is over
   * before a 2-50 ms batch ends. Large copies wake the reader after 256 KiB pile up: the
   * wakeup is cheap next to the copies it saves, and stops with the copies. */
  if (captured < BULK_EVENT_BYTES && (ts & 63))
    return BPF_RB_NO_WAKEUP;
  void *ring = cpu_ring();
  if (!ring)
    return BPF_RB_NO_WAKEUP;
  if (captured >= BULK_EVENT_BYTES)
    return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > BULK_WAKEUP_BYTES
               ? BPF_RB_FORCE_WAKEUP
               : BPF_RB_NO_WAKEUP;
  return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > ring_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                           : BPF_RB_NO_WAKEUP;
}

/* `wake`: wake the reader now. A process's first connection does, so the reader names it from
 * /proc while it still lives (short-lived clients exit within milliseconds); later connections
 * of a process already named do not: a wakeup per connection was a context switch per accept on
 * a server without keep-alive. */
static __always_inline void emit_header(__u64 id, int fd, const struct conn_info *c, __u8 type,
                                        bool wake)
{
  struct sock_event_header h = {};
  fill_header(&h, id, fd, c, type);
  __u64 flags = wake ? BPF_RB_FORCE_WAKEUP : wakeup_flags(h.ts, 0);
  if (ring_output(&h, sizeof(h), flags))
    count_drop(SOCK_DROP_RINGBUF);
}

static __always_inline struct sock_data_event *start_data(__u64 id, int fd,
                                                          const struct conn_info *c, __u8 dir,
                                                          __u64 size)
{
  __u32 cpu = bpf_get_smp_processor_id();
  struct sock_data_event *e = bpf_map_lookup_elem(&scratch, &cpu);
  if (!e)
    return NULL;
  fill_header(&e->h, id, fd, c, SOCK_EVENT_DATA);
  e->h.direction = dir;
  e->h.size = size;
  return e;
}

/* Appends up to `len` user bytes at e->h.captured, within the capture limit. */
static __always_inline void append(struct sock_data_event *e, const void *src, __u64 len)
{
  __u32 off = e->h.captured;
  if (off >= capture_bytes || off >= ZT_SOCK_MAX_CAPTURE)
    return;
  __u64 room = capture_bytes - off;
  if (len > room)
    len = room;
  if (len > ZT_SOCK_MAX_CAPTURE)
    len = ZT_SOCK_MAX_CAPTURE;
  off &= ZT_SOCK_MAX_CAPTURE - 1;
  if (bpf_probe_read_user(&e->data[off], len, src) == 0)
    e->h.captured = off + len;
}

static __always_inline void send_data(struct sock_data_event *e)
{
  __u64 total = sizeof(e->h) + e->h.captured;
  if (total > sizeof(e->h) + ZT_SOCK_MAX_CAPTURE)
    total = sizeof(e->h) + ZT_SOCK_MAX_CAPTURE;
  if (ring_output(e, total, wakeup_flags(e->h.ts, e->h.captured)))
    count_drop(SOCK_DROP_RINGBUF);
}

/* OPEN event; the first one of each process carries its environment (see sockets.h). */
static __always_inline void announce_open(__u64 id, int fd, const struct conn_info *c)
{
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct env_key key = {.tgid = id >> 32,
                        .start_time = BPF_CORE_READ(task, group_leader, start_time)};
  __u8 one = 1;
  if (bpf_map_update_elem(&env_sent, &key, &one, BPF_NOEXIST)) {
    emit_header(id, fd, c, SOCK_EVENT_OPEN, false); /* not the process's first connection */
    return;
  }
  __u32 cpu = bpf_get_smp_processor_id();
  struct sock_data_event *e = bpf_map_lookup_elem(&scratch, &cpu);
  if (!e) {
    emit_header(id, fd, c, SOCK_EVENT_OPEN, true);
    return;
  }
  fill_header(&e->h, id, fd, c, SOCK_EVENT_OPEN);
  __u64 start = BPF_CORE_READ(task, mm, env_start);
  __u64 end = BPF_CORE_READ(task, mm, env_end);
  if (end > start)
    append(e, (const void *)start, end - start);
  __u64 total = sizeof(e->h) + e->h.captured;
  if (total > sizeof(e->h) + ZT_SOCK_MAX_CAPTURE)
    total = sizeof(e->h) + ZT_SOCK_MAX_CAPTURE;
  if (ring_output(e, total, BPF_RB_FORCE_WAKEUP))
    count_drop(SOCK_DROP_RINGBUF);
}

/* Records `info` as the connection on (tgid, fd) and announces it. */
static __always_inline struct conn_info *remember(__u64 id, int fd, struct conn_info *info,
                                                  bool announce)
{
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  if (bpf_map_update_elem(&conns, &key, info, BPF_ANY)) {
    count_drop(SOCK_DROP_CONNS_FULL);
    return NULL;
  }
  if (info->is_socket && announce)
    announce_open(id, fd, info);
  return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline struct conn_info *track(__u64 id, int fd, __u8 role, bool announce)
{
  struct conn_info info = {};
  info.gen = bpf_ktime_get_ns();
  info.role = role;
  info.is_socket = describe_socket(fd, &info);
  return remember(id, fd, &info, announce);
}

/* Known connection, or a socket that was open before we started (picked up now), or NULL. */
static __always_inline struct conn_info *lookup_conn(__u64 id, int fd)
{
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct conn_info *c = bpf_map_lookup_elem(&conns, &key);
  if (!c)
    c = track(id, fd, SOCK_ROLE_UNKNOWN, true);
  if (!c || !c->is_socket)
    return NULL;
  return c;
}

static __always_inline int enter(int fd, __u64 buf, __u32 iovcnt, __u8 kind, __u8 dir)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct call_args a = {.buf = buf, .iovcnt = iovcnt, .fd = fd, .kind = kind, .direction = dir};
  bpf_map_update_elem(&active, &tid, &a, BPF_ANY);
  return 0;
}

/* Gathers the iovecs of one readv/writev/recvmsg/sendmsg into one event, in order. Bytes past
 * the capture limit or past the last walked iovec are reported by size only. The iovec array
 * is read 8 entries per helper call (most calls have 1-3). */
#define IOV_BATCH 8
static __always_inline void gather_iov(struct sock_data_event *e, __u64 iov_addr, __u32 iovcnt,
                                       __u64 bytes)
{
  const struct iovec *iov = (const struct iovec *)iov_addr;
  struct iovec v[IOV_BATCH];
  for (int b = 0; b < ZT_SOCK_MAX_IOV / IOV_BATCH; b++) {
    __u32 first = b * IOV_BATCH;
    if (first >= iovcnt || bytes == 0 || e->h.captured >= capture_bytes)
      break;
    __u64 size = (__u64)(iovcnt - first) * sizeof(v[0]);
    if (size > sizeof(v))
      size = sizeof(v);
    barrier_var(size); /* keep the bound in the register the helper gets */
    if (size > sizeof(v) || bpf_probe_read_user(v, size, &iov[first]))
      break;
    for (int i = 0; i < IOV_BATCH; i++) {
      if (first + i >= iovcnt || bytes == 0 || e->h.captured >= capture_bytes)
        break;
      __u64 seg = v[i].iov_len < bytes ? v[i].iov_len : bytes;
      append(e, v[i].iov_base, seg);
      bytes -= seg;
    }
  }
}

/* HTTP/2 frame following (see SOCK_EV_H2_FRAMED in sockets.h). Only frame headers are read
 * here: 9 bytes each, the length and type telling where the next one starts and whether the
 * payload matters to the parser (anything but DATA). What lies past the event's own bytes is
 * sent as SEGMENT events after it. */
#define H2_IOV_MASK (ZT_SOCK_MAX_IOV - 1)
#define H2_SEG_MASK (ZT_H2_MAX_SEGMENTS - 1)

/* Makes w->cur the piece holding call position `pos` (< the call's length); false past the
 * last piece. A binary search without a loop over the pieces: the frame walk and the segment
 * copy call it in loops of their own, and nested loops multiply what the verifier explores.
 * end[] is padded with the call's length past the last piece. */
static __always_inline bool h2_seek(struct h2_walk *w, __u64 pos)
{
  __u32 lo = 0;
  if (w->end[15] <= pos)
    lo += 16;
  if (w->end[(lo + 7) & H2_IOV_MASK] <= pos)
    lo += 8;
  if (w->end[(lo + 3) & H2_IOV_MASK] <= pos)
    lo += 4;
  if (w->end[(lo + 1) & H2_IOV_MASK] <= pos)
    lo += 2;
  if (w->end[lo & H2_IOV_MASK] <= pos)
    lo += 1;
  if (lo >= w->pieces)
    return false;
  w->cur = lo;
  /* Callers read the index back from memory: the verifier then sees one bounded unknown
   * instead of following each of the 32 possible values through the rest of the loop. */
  barrier();
  return true;
}

static __always_inline __u64 h2_piece_start(struct h2_walk *w, __u32 c)
{
  return c ? w->end[(c - 1) & H2_IOV_MASK] : 0;
}

/* Appends the call's bytes [pos, pos + n) (n <= 9) to the header being assembled. */
static __always_inline bool h2_read_hdr(struct h2_walk *w, __u64 pos, __u32 n)
{
  for (int k = 0; k < 3; k++) { /* a header over more than 3 iovecs is not followed */
    if (n == 0)
      return true;
    if (!h2_seek(w, pos))
      return false;
    __u32 c = w->cur;
    barrier_var(c);
    c &= H2_IOV_MASK;
    __u64 start = h2_piece_start(w, c);
    __u64 in_piece = w->end[c] - pos;
    __u32 take = n < in_piece ? n : (__u32)in_piece;
    __u32 at = w->have;
    if (at > 8 || take > 9)
      return false;
    barrier_var(take); /* keep both masks: they are the bounds the verifier sees */
    barrier_var(at);
    take &= 15;
    at &= 15;
    if (bpf_probe_read_user(&w->hdr[at], take, (const void *)(w->base[c] + (pos - start))))
      return false;
    w->have = at + take;
    pos += take;
    n -= take;
  }
  return n == 0;
}

/* The call's bytes [from, to) must reach the parser: recorded as a segment unless the event
 * itself carries them. Adjacent ranges merge. */
static __always_inline void h2_range(struct h2_walk *w, __u64 from, __u64 to)
{
  if (from < w->head)
    from = w->head;
  if (from >= to)
    return;
  __u32 n = w->nseg;
  if (n > 0 && n <= ZT_H2_MAX_SEGMENTS && w->seg_to[(n - 1) & H2_SEG_MASK] == from) {
    w->seg_to[(n - 1) & H2_SEG_MASK] = to;
    return;
  }
  if (n >= ZT_H2_MAX_SEGMENTS) {
    w->lost = 1;
    return;
  }
  w->seg_from[n & H2_SEG_MASK] = from;
  w->seg_to[n & H2_SEG_MASK] = to;
  w->nseg = n + 1;
}

/* bpf_loop body: one frame header. Returns 1 to stop. */
static long h2_frame(__u64 index, void *unused)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w || w->lost || w->pos >= w->len)
    return 1;
  __u32 have = w->have;
  if (have > 8) {
    w->lost = 1;
    return 1;
  }
  __u64 avail = w->len - w->pos;
  __u32 take = 9 - have;
  if (avail < take)
    take = avail;
  __u64 from = w->pos;
  if (!h2_read_hdr(w, from, take)) {
    w->lost = 1;
    return 1;
  }
  h2_range(w, from, from + take);
  w->pos = from + take;
  if (w->have < 9)
    return 1; /* the header goes on in the next call */
  w->have = 0;
  w->in_data = w->hdr[3] == 0;
  __u64 len = (__u32)w->hdr[0] << 16 | (__u32)w->hdr[1] << 8 | w->hdr[2];
  if (w->hdr[3] != 0) { /* not DATA: headers, settings, resets... the parser reads them */
    __u64 to = w->pos + len;
    h2_range(w, w->pos, to < w->len ? to : w->len);
  }
  w->pos += len;
  return 0;
}

/* bpf_loop body: sends segment `index` of the walk as a SEGMENT event. */
static long h2_emit(__u64 index, void *unused)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  __u32 cpu = bpf_get_smp_processor_id();
  struct sock_data_event *e = bpf_map_lookup_elem(&scratch, &cpu);
  if (!w || !e || index >= w->nseg || index >= ZT_H2_MAX_SEGMENTS)
    return 1;
  __u64 from = w->seg_from[index & H2_SEG_MASK];
  __u64 to = w->seg_to[index & H2_SEG_MASK];
  e->h.captured = 0;
  e->h.captured_from = from;
  e->h.flags = SOCK_EV_STREAM_OFF | SOCK_EV_SEGMENT;
  e->h.segments = w->nseg - 1 - index;
  for (int k = 0; k < 8; k++) { /* a segment over more iovecs is cut there (rare) */
    if (from >= to || e->h.captured >= capture_bytes || !h2_seek(w, from))
      break;
    __u32 c = w->cur;
    barrier_var(c);
    c &= H2_IOV_MASK;
    __u64 in_piece = w->end[c] - from;
    __u64 n = to - from < in_piece ? to - from : in_piece;
    append(e, (const void *)(w->base[c] + (from - h2_piece_start(w, c))), n);
    from += n;
  }
  send_data(e);
  return 0;
}


/* bpf_loop body: piece `index` of a vectored call (end[] padded past the last one). */
static long h2_piece(__u64 index, void *unused)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w || index >= ZT_SOCK_MAX_IOV)
    return 1;
  __u64 sum = w->len;
  if (index < w->pieces) {
    w->base[index] = (__u64)w->iov[index].iov_base;
    sum = w->sum + w->iov[index].iov_len;
    w->sum = sum;
  }
  w->end[index] = sum < w->len ? sum : w->len;
  return 0;
}

/* bpf_loop body (run once): finds the call's pieces, then walks its frames. */
static long h2_walk_cb(__u64 index, void *unused)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w)
    return 1;
  __u64 ret = w->len;
  if (w->kind == CALL_BUF) {
    w->pieces = 1;
    w->base[0] = w->buf;
    for (int i = 0; i < ZT_SOCK_MAX_IOV; i++)
      w->end[i] = ret;
  } else {
    __u64 iov = w->buf;
    __u64 cnt = w->iovcnt;
    if (w->kind == CALL_MSG) {
      struct user_msghdr msg = {};
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)w->buf)) {
        w->lost = 1;
        return 1;
      }
      iov = (__u64)msg.msg_iov;
      cnt = msg.msg_iovlen;
    }
    if (cnt > ZT_SOCK_MAX_IOV)
      cnt = ZT_SOCK_MAX_IOV;
    __u64 size = cnt * sizeof(struct iovec);
    barrier_var(size);
    if (size == 0 || size > sizeof(w->iov) ||
        bpf_probe_read_user(w->iov, size, (const void *)iov)) {
      w->lost = 1;
      return 1;
    }
    w->pieces = cnt;
    w->sum = 0;
    bpf_loop(ZT_SOCK_MAX_IOV, h2_piece, NULL, 0);
  }
  bpf_loop(ZT_H2_MAX_FRAMES, h2_frame, NULL, 0);
  return 1;
}

/* The connection's first bytes in a direction: the client preface, or a SETTINGS frame (what a
 * server sends first, and the client right after its preface). */
static __always_inline bool h2_start(const __u8 *d, __u32 n, __u64 *first_frame)
{
  if (n >= 24 && d[0] == 'P' && d[1] == 'R' && d[2] == 'I' && d[3] == ' ' && d[4] == '*' &&
      d[5] == ' ' && d[6] == 'H' && d[7] == 'T' && d[8] == 'T' && d[9] == 'P' && d[10] == '/' &&
      d[11] == '2' && d[12] == '.' && d[13] == '0' && d[14] == '\r' && d[15] == '\n' &&
      d[16] == '\r' && d[17] == '\n' && d[18] == 'S' && d[19] == 'M' && d[20] == '\r' &&
      d[21] == '\n' && d[22] == '\r' && d[23] == '\n') {
    *first_frame = 24;
    return true;
  }
  __u32 len = (__u32)d[0] << 16 | (__u32)d[1] << 8 | d[2];
  bool stream0 = d[5] == 0 && d[6] == 0 && d[7] == 0 && d[8] == 0;
  if (n >= 9 && d[3] == 4 && stream0 &&
      ((d[4] == 0 && len % 6 == 0 && len <= 60) || (d[4] == 1 && len == 0))) {
    *first_frame = 0;
    return true;
  }
  return false;
}

/* Follows this call's frames in direction `dir`; returns how many segments to send after the
 * event (0: the event carries everything the parser needs). */
static __always_inline __u32 h2_walk_call(struct conn_info *c, __u8 dir, __u64 off, long ret,
                                          const struct call_args *a, struct sock_data_event *e)
{
  struct h2_track *t = &c->h2[dir & 1];
  if (!t->on) {
    __u64 first = 0;
    if (off != 0 || e->h.captured_from != 0 || e->h.captured < 9 ||
        !h2_start(e->data, e->h.captured, &first))
      return 0;
    t->on = 1;
    c->flags |= CONN_H2;
    t->next = first;
    t->have = 0;
    t->in_data = 0;
  }
  __u64 resume = t->next + t->have;
  if (resume >= off + ret)
    return 0; /* the whole call is payload of a frame begun earlier */
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w || resume < off || t->have > 8 ||
      (a->kind != CALL_BUF && a->kind != CALL_IOV && a->kind != CALL_MSG))
    goto lost;
  w->pos = resume - off;
  w->len = ret;
  /* The event holds [captured_from, +captured); a skip above ended at `resume` at the latest,
   * so nothing the walk needs lies before captured_from. */
  w->head = e->h.captured_from + e->h.captured;
  w->have = t->have;
  w->in_data = t->in_data;
  __builtin_memcpy(w->hdr, t->hdr, 9);
  w->nseg = 0;
  w->lost = 0;
  w->kind = a->kind;
  w->buf = a->buf;
  w->iovcnt = a->iovcnt;
  /* In a callback, the walk is verified once instead of on every path that reaches here. */
  bpf_loop(1, h2_walk_cb, NULL, 0);
  if (w->lost || (w->pos < w->len && w->have == 0)) {
    /* Segments found before the trouble are still right; what follows reaches the parser as
     * uncaptured bytes, where it notices the missing frame header and resynchronises. */
    t->on = 0;
    count_drop(SOCK_DROP_H2_FRAMING);
    return w->nseg;
  }
  t->next = off + w->pos - w->have;
  t->have = w->have;
  t->in_data = w->in_data;
  __builtin_memcpy(t->hdr, w->hdr, 9);
  return w->nseg;
lost:
  t->on = 0;
  count_drop(SOCK_DROP_H2_FRAMING);
  return 0;
}

/* The call's bytes from `skip` on, into e. A subprogram rather than inlined: the iovec
 * gathering is most of the program, and inlined into every path that reaches it the raw_tp and
 * tp_btf variants exceeded the verifier's limit. Static, not global: a global function cost
 * ~80 ns per event (bpftool run time, nginx+wrk). */
static __noinline int copy_call(struct sock_data_event *e, const struct call_args *a, __u64 ret,
                         __u64 skip)
{
  if (!e || !a)
    return 0;
  if (skip >= ret) {
    e->h.captured_from = ret; /* all of it skipped: sent for its size and timestamp */
    return 0;
  }
  switch (a->kind) {
  case CALL_BUF:
    if (skip > 0) {
      e->h.captured_from = skip;
      append(e, (const void *)(a->buf + skip), ret - skip);
    } else {
      append(e, (const void *)a->buf, ret);
    }
    break;
  case CALL_IOV:
  case CALL_MSG: {
    __u64 iov = a->buf;
    __u32 iovcnt = a->iovcnt;
    if (a->kind == CALL_MSG) {
      struct user_msghdr msg = {};
      iovcnt = 0;
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)a->buf) == 0) {
        iov = (__u64)msg.msg_iov;
        iovcnt = (__u32)msg.msg_iovlen;
      }
    }
    gather_iov(e, iov, iovcnt, ret);
    break;
  }
  default: /* CALL_SIZE_ONLY: sendfile/splice bytes cannot be copied */
    break;
  }
  return 0;
}

/* Sends e, after following the call's HTTP/2 frames, then its SEGMENT events. A global
 * function, verified once on its own; called for HTTP/2 connections and first calls only. */
__noinline int h2_send(struct conn_info *c, struct sock_data_event *e, const struct call_args *a,
                       __u64 off, __u64 ret)
{
  if (!c || !e || !a)
    return 0;
  __u32 segments = h2_walk_call(c, a->direction & 1, off, ret, a, e);
  if (segments) {
    e->h.flags |= SOCK_EV_H2_FRAMED;
    e->h.segments = segments;
  }
  send_data(e);
  if (segments)
    bpf_loop(segments, h2_emit, NULL, 0);
  return 0;
}

/* Where the copy of a call in a followed HTTP/2 direction may stop: right after the next
 * frame header when it opens a large DATA frame. The walk then sends later frame headers as
 * segments, and the payload between stays in the kernel even where it lies inside the capture
 * size: an SSL_read/SSL_write (at most one 16 KiB TLS record) or nginx's writev of frames read
 * from a file would otherwise be copied whole. Large frames only, so the frames the capture
 * used to hold add few segments; for vectored calls only a header in the first iovec counts. */
static __noinline __u64 h2_copy_end(const struct h2_track *t, const struct call_args *a,
                                    __u64 off, __u64 ret)
{
  if (!t || !a)
    return ret;
  __u64 at = t->next;
  if (!t->on || t->have || at < off || at + 9 > off + ret)
    return ret;
  __u64 base = a->buf, first_len = ret;
  if (a->kind != CALL_BUF) {
    __u64 iov = a->buf;
    if (a->kind == CALL_MSG) {
      struct user_msghdr msg = {};
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)a->buf) || msg.msg_iovlen == 0)
        return ret;
      iov = (__u64)msg.msg_iov;
    } else if (a->kind != CALL_IOV || a->iovcnt == 0) {
      return ret;
    }
    struct iovec v0 = {};
    if (bpf_probe_read_user(&v0, sizeof(v0), (const void *)iov))
      return ret;
    base = (__u64)v0.iov_base;
    first_len = v0.iov_len;
  }
  if (at - off + 9 > first_len)
    return ret;
  __u8 fh[9];
  if (bpf_probe_read_user(fh, sizeof(fh), (const void *)(base + (at - off))))
    return ret;
  __u32 len = (__u32)fh[0] << 16 | (__u32)fh[1] << 8 | fh[2];
  if (fh[3] != 0 || len < H2_DATA_COPY_MIN)
    return ret;
  return at - off + 9;
}

/* The bytes of one call in a connection's byte stream: socket I/O, or the plaintext of an
 * SSL_read/SSL_write (c is then the SSL object's copy, whose offsets count plaintext bytes).
 * Capture hints and HTTP/2 frame following work on either. */
static __always_inline int emit_stream_data(__u64 id, struct call_args a, long ret,
                                            struct conn_info *c)
{
  if (c->flags & CONN_SKIP_ALL)
    return 0;
  __u8 dir = a.direction & 1;
  /* Not an atomic fetch-add: that instruction needs Linux 5.12 (older verifiers reject it), and
   * two threads doing I/O in one direction of one connection at once have no byte order anyway. */
  __u64 off = c->off[dir];
  c->off[dir] = off + ret;
  __u64 skip = 0;
  if (skips_active) {
    struct sock_skip_key k = {.tgid = id >> 32, .fd = a.fd, .gen = c->gen};
    struct sock_skip_value *v = bpf_map_lookup_elem(&skips, &k);
    if (v) {
      __u64 until = v->until[dir];
      if (until == ZT_SOCK_SKIP_ALL) {
        c->flags |= CONN_SKIP_ALL;
        return 0;
      }
      /* Ends inside the skipped range: nothing to send (the next event's offset tells). The
       * call that reaches its end is sent, for its timestamp and what follows the body. */
      if (until > off && off + ret < until)
        return 0;
      if (until > off && a.kind == CALL_BUF)
        skip = until - off;
    }
  }
  /* A followed HTTP/2 direction inside a DATA frame: the payload up to the next frame header
   * is not copied (the parser would skip it). */
  if (h2_follow && (c->flags & CONN_H2) && c->h2[dir].on && c->h2[dir].in_data &&
      c->h2[dir].have == 0) {
    __u64 resume = c->h2[dir].next;
    if (resume > off) {
      __u64 h2skip = resume - off < (__u64)ret ? resume - off : (__u64)ret;
      if ((a.kind == CALL_BUF || h2skip == (__u64)ret) && h2skip > skip)
        skip = h2skip;
    }
  }
  __u64 copy_end = ret;
  if (h2_follow && (c->flags & CONN_H2) &&
      (a.kind == CALL_BUF || a.kind == CALL_IOV || a.kind == CALL_MSG))
    copy_end = h2_copy_end(&c->h2[dir], &a, off, ret);
  struct sock_data_event *e = start_data(id, a.fd, c, a.direction, ret);
  if (!e)
    return 0;
  e->h.stream_off = off;
  e->h.flags = SOCK_EV_STREAM_OFF;
  copy_call(e, &a, copy_end, skip);
  if (h2_follow && ((c->flags & CONN_H2) || off == 0))
    h2_send(c, e, &a, off, ret);
  else
    send_data(e);
  return 0;
}

/* The bytes of one read/write-like call on connection `c` (a.kind: BUF, IOV, MSG, SIZE_ONLY). */
static __always_inline int emit_call_data(__u64 id, struct call_args a, long ret,
                                          struct conn_info *c)
{
  if (tls_probes_attached) {
    __u32 tid = (__u32)id;
    struct tls_call *tls = bpf_map_lookup_elem(&tls_active, &tid);
    if (tls) {
      c->flags |= CONN_TLS;
      struct ssl_key key = {.tgid = id >> 32, .ssl = tls->ssl};
      /* Written when the SSL object's connection changes only: an LRU update per socket call
       * costs more than the lookup. */
      struct ssl_conn *old = bpf_map_lookup_elem(&ssl_conns, &key);
      bool same = old && old->info.gen == c->gen && old->fd == a.fd;
      if (!same || ((old->info.flags ^ c->flags) & ~CONN_STREAM_FLAGS) ||
          old->info.role != c->role) {
        struct ssl_conn sc = {.info = *c, .fd = a.fd};
        /* The plaintext stream's own offsets and HTTP/2 state (the socket's count ciphertext):
         * kept while the SSL object stays on this connection, started afresh on another. */
        sc.info.flags &= ~CONN_STREAM_FLAGS;
        sc.info.off[0] = sc.info.off[1] = 0;
        __builtin_memset(sc.info.h2, 0, sizeof(sc.info.h2));
        if (same) {
          sc.info.flags |= old->info.flags & CONN_STREAM_FLAGS;
          sc.info.off[0] = old->info.off[0];
          sc.info.off[1] = old->info.off[1];
          __builtin_memcpy(sc.info.h2, old->info.h2, sizeof(sc.info.h2));
        }
        bpf_map_update_elem(&ssl_conns, &key, &sc, BPF_ANY);
      }
    }
  }
  if (!(c->flags & CONN_SEEN_DATA) && ret >= 2) {
    c->flags |= CONN_SEEN_DATA;
    /* A TLS handshake record (0x16 0x03 ..) as first bytes: the ciphertext is useless to the
     * parsers and would make them give up on the connection before the plaintext arrives. */
    __u8 head[2] = {};
    if (a.kind == CALL_BUF && bpf_probe_read_user(head, 2, (const void *)a.buf) == 0 &&
        head[0] == 0x16 && head[1] == 0x03)
      c->flags |= CONN_TLS;
  }
  if (c->flags & CONN_TLS)
    return 0;
  return emit_stream_data(id, a, ret, c);
}

/* The end of a call whose arguments are known: track a new connection or emit its bytes. */
static __always_inline int finish_call(__u64 id, struct call_args a, long ret)
{
  if (a.kind == CALL_ACCEPT) {
    if (ret >= 0)
      track(id, (int)ret, SOCK_ROLE_SERVER, true);
    return 0;
  }
  if (a.kind == CALL_CONNECT) {
    if (ret == 0 || ret == -EINPROGRESS)
      track(id, a.fd, SOCK_ROLE_CLIENT, true);
    return 0;
  }
  if (ret <= 0 || a.kind == CALL_PEEK) /* peeked bytes are read again later */
    return 0;
  struct conn_info *c = lookup_conn(id, a.fd);
  if (!c)
    return 0;
  return emit_call_data(id, a, ret, c);
}

/* Tracepoint variant: the enter handler stored the arguments per thread. */
static __always_inline int exit_call(long ret)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  struct call_args *ap = bpf_map_lookup_elem(&active, &tid);
  if (!ap)
    return 0;
  struct call_args a = *ap;
  bpf_map_delete_elem(&active, &tid);
  return finish_call(id, a, ret);
}

#define ARG(n) (ctx->args[n])

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_ACCEPT, 0); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_ACCEPT, 0); }
SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_CONNECT, 0); }
SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
  return enter(ARG(0), ARG(1), 0, (ARG(3) & MSG_PEEK) ? CALL_PEEK : CALL_BUF, SOCK_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), ARG(2), CALL_IOV, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), ARG(2), CALL_IOV, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_MSG, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_MSG, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
/* sendfile(out_fd, in_fd, ...) and splice(..., fd_out, ...) move bytes we cannot copy: counted
 * by size so the parsers can skip a body of known length. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_SIZE_ONLY, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_splice")
int enter_splice(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(2), 0, 0, CALL_SIZE_ONLY, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_splice")
int exit_splice(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }

static __always_inline int handle_close(int fd)
{
  __u64 id = bpf_get_current_pid_tgid();
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct conn_info *c = bpf_map_lookup_elem(&conns, &key);
  if (!c)
    return 0;
  if (c->is_socket)
    emit_header(id, key.fd, c, SOCK_EVENT_CLOSE, false);
  bpf_map_delete_elem(&conns, &key);
  return 0;
}

/* OpenSSL: SSL_read(ssl, buf, num), SSL_write(ssl, buf, num) return the byte count;
 * SSL_read_ex/SSL_write_ex(ssl, buf, num, size_t *bytes) return 1 and write the count, and so
 * do ssl_read_internal/ssl_write_internal, which the loader probes instead where it finds them
 * (userspace/probes/ssl_internals.h). */
static __always_inline int tls_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct tls_call t = {.ssl = PT_REGS_PARM1(ctx), .buf = PT_REGS_PARM2(ctx),
                       .bytes_ptr = ex ? PT_REGS_PARM4(ctx) : 0, .direction = dir};
  bpf_map_update_elem(&tls_active, &tid, &t, BPF_ANY);
  return 0;
}

static __always_inline int tls_exit(struct pt_regs *ctx, bool ex)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  struct tls_call *tp = bpf_map_lookup_elem(&tls_active, &tid);
  if (!tp)
    return 0;
  struct tls_call t = *tp;
  bpf_map_delete_elem(&tls_active, &tid);
  int ret = (int)PT_REGS_RC(ctx); /* C int: the upper half of the register is not the sign */
  __u64 bytes = 0;
  if (ex) {
    /* SSL_*_ex return 1; the internal functions they share return > 0 on success. */
    if (ret <= 0 || bpf_probe_read_user(&bytes, sizeof(bytes), (const void *)t.bytes_ptr))
      return 0;
  } else {
    if (ret <= 0)
      return 0;
    bytes = ret;
  }
  struct ssl_key key = {.tgid = id >> 32, .ssl = t.ssl};
  struct ssl_conn *sc = bpf_map_lookup_elem(&ssl_conns, &key);
  if (!sc)
    return 0; /* no socket I/O seen under this SSL object yet: cannot tie it to a connection */
  /* The plaintext is a stream of its own (offsets in sc->info): capture hints skip bodies of
   * declared length and HTTP/2 DATA payload in it as on a plaintext socket, so a large HTTPS
   * transfer is not copied to userspace. */
  struct call_args a = {.buf = t.buf, .fd = sc->fd, .kind = CALL_BUF, .direction = t.direction};
  return emit_stream_data(id, a, (long)bytes, &sc->info);
}

SEC("uprobe")
int BPF_KPROBE(tls_read_enter) { return tls_enter(ctx, SOCK_DIR_INGRESS, false); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_read_exit) { return tls_exit(ctx, false); }
SEC("uprobe")
int BPF_KPROBE(tls_write_enter) { return tls_enter(ctx, SOCK_DIR_EGRESS, false); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_write_exit) { return tls_exit(ctx, false); }
SEC("uprobe")
int BPF_KPROBE(tls_read_ex_enter) { return tls_enter(ctx, SOCK_DIR_INGRESS, true); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_read_ex_exit) { return tls_exit(ctx, true); }
SEC("uprobe")
int BPF_KPROBE(tls_write_ex_enter) { return tls_enter(ctx, SOCK_DIR_EGRESS, true); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ex_exit) { return tls_exit(ctx, true); }

/* A new program image: userspace scans its mappings for a libssl no uprobe covers yet, so a
 * process started after zerotrace with its own OpenSSL (a container image, a bundled copy) is
 * traced from its first request rather than from the next periodic /proc scan. */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
  if (!tls_watch_exec)
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct sock_event_header h = {};
  h.ts = bpf_ktime_get_ns();
  h.tgid = tgid;
  h.tid = (__u32)id;
  h.fd = -1;
  h.type = SOCK_EVENT_EXEC;
  bpf_get_current_comm(h.comm, sizeof(h.comm));
  if (ring_output(&h, sizeof(h), BPF_RB_FORCE_WAKEUP))
    count_drop(SOCK_DROP_RINGBUF);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx) { return handle_close((int)ARG(0)); }

/* raw_syscalls variants (tp_btf, else raw_tp): one exit program for every syscall and no
 * per-call state. At sys_exit the saved user registers still hold the syscall number and its
 * arguments (the syscall ABI preserves them; arm64 keeps the first one in orig_x0), so the exit
 * handler alone decodes the call: no map update on entry and no lookup/delete on exit, which was
 * most of the per-request cost on a busy server. tp_btf reads the registers directly; raw_tp
 * needs a probe-read per register. close() is handled on entry by its own syscall tracepoint,
 * while the fd still names the connection (after close returns, another thread may already have
 * reused the fd); that tracepoint fires on close only, not on every syscall as a raw_tp would. */
#define REG_ARG(direct, n, regs) \
  ((direct) ? (long)PT_REGS_PARM##n##_SYSCALL(regs) : (long)PT_REGS_PARM##n##_CORE_SYSCALL(regs))

static __always_inline long syscall_nr(struct pt_regs *regs, bool direct)
{
#if defined(__TARGET_ARCH_x86)
  return direct ? regs->orig_ax : BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
  return direct ? regs->syscallno : BPF_CORE_READ(regs, syscallno);
#else
#error "syscall_nr: unsupported architecture"
#endif
}

/* A 32-bit syscall (int 0x80 / ia32 process) has other numbers and argument registers than the
 * 64-bit table decode_call() knows: such calls are skipped rather than misread. */
static __always_inline bool compat_syscall(struct task_struct *task, bool direct)
{
#if defined(__TARGET_ARCH_x86)
  __u32 status = direct ? task->thread_info.status : BPF_CORE_READ(task, thread_info.status);
  return status & 0x0002; /* TS_COMPAT */
#else
  return false;
#endif
}

/* The traced call `nr` with the arguments in `regs`, or false for any other syscall. */
static __always_inline bool decode_call(struct pt_regs *regs, long nr, bool direct,
                                        struct call_args *a)
{
  if (nr == nr_read || nr == nr_write || nr == nr_sendto) {
    a->kind = CALL_BUF;
    a->direction = nr == nr_read ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
  } else if (nr == nr_recvfrom) {
    a->kind = (REG_ARG(direct, 4, regs) & MSG_PEEK) ? CALL_PEEK : CALL_BUF;
    a->direction = SOCK_DIR_INGRESS;
  } else if (nr == nr_readv || nr == nr_writev) {
    a->kind = CALL_IOV;
    a->direction = nr == nr_readv ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
    a->iovcnt = REG_ARG(direct, 3, regs);
  } else if (nr == nr_recvmsg || nr == nr_sendmsg) {
    a->kind = CALL_MSG;
    a->direction = nr == nr_recvmsg ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
  } else if (nr == nr_accept || nr == nr_accept4) {
    a->kind = CALL_ACCEPT;
  } else if (nr == nr_connect) {
    a->kind = CALL_CONNECT;
  } else if (nr == nr_sendfile) {
    a->kind = CALL_SIZE_ONLY;
    a->direction = SOCK_DIR_EGRESS;
  } else if (nr == nr_splice) {
    a->kind = CALL_SIZE_ONLY;
    a->direction = SOCK_DIR_EGRESS;
    a->fd = REG_ARG(direct, 3, regs); /* splice(fd_in, off_in, fd_out, ...) */
    return true;
  } else {
    return false;
  }
  a->fd = REG_ARG(direct, 1, regs);
  if (a->kind != CALL_ACCEPT && a->kind != CALL_CONNECT && a->kind != CALL_SIZE_ONLY)
    a->buf = REG_ARG(direct, 2, regs);
  return true;
}

static __always_inline int syscall_exit(struct pt_regs *regs, long ret, bool direct)
{
  /* Failed calls (EAGAIN reads of an epoll server are most of them) end here, before any read. */
  if (ret < 0 && ret != -EINPROGRESS)
    return 0;
  struct call_args a = {};
  if (!decode_call(regs, syscall_nr(regs, direct), direct, &a))
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  if (compat_syscall(direct ? bpf_get_current_task_btf()
                            : (struct task_struct *)bpf_get_current_task(),
                     direct))
    return 0;
  return finish_call(id, a, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_exit, struct pt_regs *regs, long ret)
{
  return syscall_exit(regs, ret, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_exit, struct pt_regs *regs, long ret)
{
  return syscall_exit(regs, ret, false);
}

/* sock tracepoint path. The tracepoints fire inside sock_sendmsg()/sock_recvmsg(), under the
 * syscall that asked for the I/O: its saved user registers name the fd and the buffer, as at
 * sys_exit. I/O without such a syscall underneath (io_uring, sendmmsg, kernel users) is not
 * decoded and not captured. */
static __always_inline void emit_close(__u32 tgid, int fd, const struct conn_info *c)
{
  emit_header(((__u64)tgid << 32) | tgid, fd, c, SOCK_EVENT_CLOSE, false);
}

static __always_inline int sock_io(struct sock *sk, int ret, int flags, __u8 dir)
{
  if (ret <= 0 || (flags & MSG_PEEK)) /* peeked bytes are read again later */
    return 0;
  __u16 family = sk->__sk_common.skc_family;
  if ((family != AF_INET && family != AF_INET6) || sk->sk_type != SOCK_STREAM ||
      sk->sk_protocol != IPPROTO_TCP)
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  struct call_args a = {};
  if (compat_syscall(task, true) || !decode_call(regs, syscall_nr(regs, true), true, &a) ||
      a.direction != dir ||
      a.kind == CALL_ACCEPT || a.kind == CALL_CONNECT || a.kind == CALL_PEEK)
    return 0;
  struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (!s) {
    count_drop(SOCK_DROP_CONNS_FULL);
    return 0;
  }
  if (!s->info.gen) {
    /* First bytes: the connection starts being tracked, under the process and fd doing I/O.
     * Another fd on the same socket (dup, fd passing) reports under its own (tgid, fd). */
    if (!describe_sock(sk, &s->info))
      return 0;
    s->info.gen = bpf_ktime_get_ns();
    s->info.is_socket = 1;
    s->tgid = tgid;
    s->fd = a.fd;
    announce_open(id, a.fd, &s->info);
  }
  return emit_call_data(id, a, ret, &s->info);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
  return sock_io(sk, ret, 0, SOCK_DIR_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv, struct sock *sk, int ret, int flags)
{
  return sock_io(sk, ret, flags, SOCK_DIR_INGRESS);
}

/* The handshake's end says who opened the connection (SYN_SENT: this side connected, SYN_RECV:
 * it was accepted); TCP_CLOSE is its end, also when the kernel closes the fds of an exiting
 * process (no close() call to see). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sock_state, struct sock *sk, int oldstate, int newstate)
{
  if (sk->sk_protocol != IPPROTO_TCP)
    return 0;
  if (newstate == TCP_ESTABLISHED) {
    __u8 role = oldstate == TCP_SYN_SENT   ? SOCK_ROLE_CLIENT
                : oldstate == TCP_SYN_RECV ? SOCK_ROLE_SERVER
                                           : SOCK_ROLE_UNKNOWN;
    if (role == SOCK_ROLE_UNKNOWN)
      return 0;
    struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!s)
      return 0;
    if (s->info.gen) { /* connected again after an earlier connection ended: a new one */
      s->info.gen = 0;
      s->info.flags = 0;
      s->info.off[0] = 0;
      s->info.off[1] = 0;
      __builtin_memset(s->info.h2, 0, sizeof(s->info.h2));
    }
    s->info.role = role;
    return 0;
  }
  if (newstate != TCP_CLOSE)
    return 0;
  struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, 0);
  if (!s || !s->info.gen)
    return 0;
  /* The connection keeps its generation: the syscall whose I/O ended the socket (a write the
   * loopback peer answered with a reset, processed inside that write) reports its bytes after
   * this, and userspace gives them to the closed connection (ConnTracker::kCloseLingerNs). A
   * later connect() on this socket starts a new generation at the handshake. */
  if (s->info.flags & CONN_CLOSED)
    return 0;
  s->info.flags |= CONN_CLOSED;
  emit_close(s->tgid, s->fd, &s->info);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
