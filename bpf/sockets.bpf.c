// SPDX-License-Identifier: GPL-2.0
/* Socket connections and their bytes, from tracepoints only (no kprobes needed). Two paths:
 * - sock tracepoints (Linux 6.3+, the default): sock:sock_{send,recv}_length fire inside
 *   sock_sendmsg/sock_recvmsg, i.e. only for socket I/O, with the struct sock at hand; the
 *   syscall's arguments (which buffer, which fd) come from the task's saved user registers.
 *   sock:inet_sock_set_state tells who opened a connection and when it ended.
 * - syscall tracepoints (fallback): an exit program on raw_syscalls (tp_btf or raw_tp) or a
 *   tracepoint pair per syscall. A program on every syscall of the host puts every task on the
 *   syscall slow path; on a busy loopback server that alone cost 7 % of throughput.
 * This file holds the maps, connection tracking and event building every path shares; each path,
 * the OpenSSL uprobes and the HTTP/2 frame walker are parts in bpf/sockets/, #included below in
 * the order they build on each other (still one object and one skeleton). */
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
#define EEXIST 17
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
  __u64 sk;   /* the TCP socket (struct sock *), for its write_seq; 0: not TCP */
  __u32 seq0; /* write_seq at the handshake, or when first seen (CONN_SEQ0) */
  __u32 pad;
  /* Last: only HTTP/2 connections (CONN_H2) read it, the per-call fields stay together. */
  struct h2_track h2[2]; /* by direction */
};

#define CONN_SEEN_DATA 1 /* the first payload byte was inspected */
#define CONN_TLS 2       /* TLS records on the wire: plaintext comes from the SSL uprobes */
#define CONN_CLOSED 4    /* sock path: TCP_CLOSE was reported */
#define CONN_SKIP_ALL 8  /* a "skip everything" hint was found: no more lookups, no events */
#define CONN_H2 16       /* HTTP/2 frames were followed in a direction (see h2) */
#define CONN_ANNOUNCED 32 /* sock path: the OPEN event was sent */
#define CONN_TLS_READ 64  /* a TLS socket was read outside an SSL call (see tls_last_reads) */
#define CONN_SEQ0 128     /* seq0 is set */
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
  __u32 first_read; /* tls_last_reads: the socket's first read outside an SSL call */
  __u64 seen_ns;    /* tls_last_reads: when the read was made */
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ssl_key);
  __type(value, struct ssl_conn);
} ssl_conns SEC(".maps");

/* An SSL object over memory BIOs (Python's asyncio, many event loops) does no socket I/O under
 * SSL_read/SSL_write: the loop reads the socket, hands the ciphertext to OpenSSL, then calls
 * SSL_read or SSL_do_handshake on the same thread. So the last read of a TLS socket by a thread,
 * outside any SSL call, names the socket of an unlinked SSL object that the thread reads or
 * handshakes with next (within TLS_READ_LINK_NS). Every SSL_read/SSL_do_handshake on the thread
 * uses the entry up, linked or not, so it is never older than the thread's previous SSL call.
 * A handshake links only with the socket's first read (the peer's first flight): a server
 * handshakes once before reading anything, and a client to write its ClientHello, when the
 * thread's last read belongs to another connection. Writes never link (an event loop writes
 * after SSL_write, and its previous read may be another connection's); the handshake links a
 * client before its first SSL_write. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32); /* tid */
  __type(value, struct ssl_conn);
} tls_last_reads SEC(".maps");

#define TLS_READ_LINK_NS (1000ULL * 1000 * 1000)

/* A connection being built before it is stored (conns, ssl_conns), per CPU: kept off the BPF
 * stack, which the syscall exit programs share with copy_call() under the verifier's 512-byte
 * limit for a call chain (Linux 5.10-6.2 refused them at 560 bytes). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ssl_conn);
} conn_scratches SEC(".maps");

static __always_inline struct ssl_conn *conn_scratch(void)
{
  __u32 zero = 0;
  return bpf_map_lookup_elem(&conn_scratches, &zero);
}

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
/* Past the event's own bytes, DATA payloads shorter than this are sent with the frame headers
 * around them (see h2_frame). */
#define H2_DATA_MERGE_MAX 1024


/* Set by the loader when bpf_get_current_task_btf() exists (5.11+). */
const volatile bool task_btf = false;
/* Set by the loader when bpf_loop() exists (5.17+): HTTP/2 frame following needs it. */
const volatile bool h2_follow = false;
#ifdef ZT_NO_BPF_LOOP
/* The build for kernels without bpf_loop() (sockets_noloop, see bpf/CMakeLists.txt): the frame
 * walk is compiled out, so no program names a bpf_loop callback, which 5.10 refuses to load. */
#define H2_FOLLOW false
#else
#define H2_FOLLOW h2_follow
#endif

/* One HTTP/2 frame walk per CPU: the call's pieces (its buffer or iovecs) and what it found. */
struct h2_walk {
  __u64 base[ZT_SOCK_MAX_IOV]; /* user address of each piece */
  __u64 end[ZT_SOCK_MAX_IOV];  /* call position where each piece ends */
  struct iovec iov[ZT_SOCK_MAX_IOV];
  __u32 pieces;
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
  __u64 rest_from; /* a range still to record as segments (see h2_range_step) */
  __u64 rest_to;
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
  info->sk = BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP ? (__u64)sk : 0;
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
  /* comm only matters when a connection is opened (naming); skip it on the per-syscall path */
  h->snd_seq = 0;
  if (type == SOCK_EVENT_OPEN) {
    bpf_get_current_comm(h->comm, sizeof(h->comm));
    if (c->flags & CONN_SEQ0) {
      h->snd_seq = c->seq0;
      h->flags = SOCK_EV_SND_SEQ;
    }
  }
}

/* The socket's count of bytes queued to send (see SOCK_EV_SND_SEQ). */
static __always_inline __u32 snd_seq_of(__u64 sk)
{
  return BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
}

static __always_inline void note_seq0(struct conn_info *c)
{
  if (c->sk && !(c->flags & CONN_SEQ0)) {
    c->seq0 = snd_seq_of(c->sk);
    c->flags |= CONN_SEQ0;
  }
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
  /* Built in this CPU's scratch event, not on the stack (see conn_scratches): no data event is
   * being built when a connection opens or closes. */
  __u32 cpu = bpf_get_smp_processor_id();
  struct sock_data_event *e = bpf_map_lookup_elem(&scratch, &cpu);
  if (!e) {
    count_drop(SOCK_DROP_RINGBUF);
    return;
  }
  fill_header(&e->h, id, fd, c, type);
  __u64 flags = wake ? BPF_RB_FORCE_WAKEUP : wakeup_flags(e->h.ts, 0);
  if (ring_output(&e->h, sizeof(e->h), flags))
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

/* Records `info` as the connection on (tgid, fd) and announces it. `update`: BPF_ANY for a
 * connection that starts now (connect, accept: it replaces whatever the fd was before);
 * BPF_NOEXIST for one picked up at its first I/O, where two threads may race to it: the
 * loser's entry, with another generation, would make the collector restart the connection's
 * parser mid-stream (python3-grpcio reads and writes a new connection from two threads at
 * once). The loser uses the winner's entry. */
static __always_inline struct conn_info *remember(__u64 id, int fd, struct conn_info *info,
                                                  bool announce, __u64 update)
{
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  long err = bpf_map_update_elem(&conns, &key, info, update);
  if (err == -EEXIST)
    return bpf_map_lookup_elem(&conns, &key);
  if (err) {
    count_drop(SOCK_DROP_CONNS_FULL);
    return NULL;
  }
  if (info->is_socket && announce)
    announce_open(id, fd, info);
  return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline struct conn_info *track(__u64 id, int fd, __u8 role, bool announce,
                                               __u64 update)
{
  struct ssl_conn *tmp = conn_scratch();
  if (!tmp)
    return NULL;
  struct conn_info *info = &tmp->info;
  __builtin_memset(info, 0, sizeof(*info));
  info->gen = bpf_ktime_get_ns();
  info->role = role;
  info->is_socket = describe_socket(fd, info);
  note_seq0(info);
  return remember(id, fd, info, announce, update);
}

/* Known connection, or a socket that was open before we started (picked up now), or NULL. */
static __always_inline struct conn_info *lookup_conn(__u64 id, int fd)
{
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct conn_info *c = bpf_map_lookup_elem(&conns, &key);
  if (!c)
    c = track(id, fd, SOCK_ROLE_UNKNOWN, true, BPF_NOEXIST);
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
/* With bpf_loop, up to the kernel's own limit of iovecs per call (UIO_MAXIOV): python3-grpcio
 * writes 100 requests as one sendmsg of some 300 tiny iovecs, and a cut after the 32nd lost the
 * HPACK state of the connection's requests for good. Without it, ZT_SOCK_MAX_IOV. */
#define IOV_MAX_LOOPED 1024

#ifndef ZT_NO_BPF_LOOP
/* bpf_loop body: iovecs [b * IOV_BATCH, +IOV_BATCH) into this CPU's scratch event. Its state
 * lives in this CPU's h2_walks entry (buf = the iovec array, len = bytes still to gather,
 * iovcnt), read from map memory on each call: values the verifier does not track precisely,
 * so the loop body is verified a few times, not once per possible value. */
static long gather_batch(__u64 b, void *unused)
{
  __u32 zero = 0;
  struct h2_walk *g = bpf_map_lookup_elem(&h2_walks, &zero);
  __u32 cpu = bpf_get_smp_processor_id();
  struct sock_data_event *e = bpf_map_lookup_elem(&scratch, &cpu);
  if (!g || !e || b >= IOV_MAX_LOOPED / IOV_BATCH)
    return 1;
  __u32 first = b * IOV_BATCH;
  __u32 iovcnt = g->iovcnt;
  if (first >= iovcnt || g->len == 0 || e->h.captured >= capture_bytes)
    return 1;
  /* Read into the map, not the stack: the callback's frame adds to the callers' BPF stack. */
  struct iovec *v = g->iov;
  __u64 size = (__u64)(iovcnt - first) * sizeof(v[0]);
  if (size > IOV_BATCH * sizeof(v[0]))
    size = IOV_BATCH * sizeof(v[0]);
  barrier_var(size);
  if (size > IOV_BATCH * sizeof(v[0]) ||
      bpf_probe_read_user(v, size, (const void *)(g->buf + first * sizeof(v[0]))))
    return 1;
  for (int i = 0; i < IOV_BATCH; i++) {
    __u64 bytes = g->len;
    if (first + i >= iovcnt || bytes == 0 || e->h.captured >= capture_bytes)
      break;
    __u64 seg = v[i].iov_len < bytes ? v[i].iov_len : bytes;
    append(e, v[i].iov_base, seg);
    g->len = bytes - seg;
  }
  return 0;
}
#endif

static __always_inline void gather_iov(struct sock_data_event *e, __u64 iov_addr, __u32 iovcnt,
                                       __u64 bytes)
{
#ifndef ZT_NO_BPF_LOOP
  if (H2_FOLLOW && iovcnt > ZT_SOCK_MAX_IOV) { /* H2_FOLLOW: bpf_loop() exists */
    __u32 zero = 0;
    struct h2_walk *g = bpf_map_lookup_elem(&h2_walks, &zero);
    if (!g)
      return;
    g->buf = iov_addr;
    g->len = bytes;
    g->iovcnt = iovcnt;
    bpf_loop(IOV_MAX_LOOPED / IOV_BATCH, gather_batch, NULL, 0);
    return;
  }
#endif
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

#include "sockets/h2_frames.bpf.h"
#include "sockets/propagation.bpf.h"

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
  if (H2_FOLLOW && (c->flags & CONN_H2) && c->h2[dir].on && c->h2[dir].in_data &&
      c->h2[dir].have == 0) {
    __u64 resume = c->h2[dir].next;
    if (resume > off) {
      __u64 h2skip = resume - off < (__u64)ret ? resume - off : (__u64)ret;
      if ((a.kind == CALL_BUF || h2skip == (__u64)ret) && h2skip > skip)
        skip = h2skip;
    }
  }
  __u64 copy_end = ret;
  if (H2_FOLLOW && (c->flags & CONN_H2) &&
      (a.kind == CALL_BUF || a.kind == CALL_IOV || a.kind == CALL_MSG))
    copy_end = h2_copy_end(&c->h2[dir], &a, off, ret);
  struct sock_data_event *e = start_data(id, a.fd, c, a.direction, ret);
  if (!e)
    return 0;
  e->h.stream_off = off;
  e->h.flags = SOCK_EV_STREAM_OFF;
  /* Only a client's reads are ever held for a write (userspace SendOrder): a server's events
   * skip the read. */
  if (c->sk && c->role != SOCK_ROLE_SERVER && !(c->flags & CONN_TLS)) {
    e->h.snd_seq = snd_seq_of(c->sk);
    e->h.flags |= SOCK_EV_SND_SEQ;
  }
  copy_call(e, &a, copy_end, skip);
  prop_note_event(id, a.fd, c, e);
  if (H2_FOLLOW && ((c->flags & CONN_H2) || off == 0))
    h2_send(c, e, &a, off, ret);
  else
    send_data(e);
  return 0;
}

/* The bytes of one read/write-like call on connection `c` (a.kind: BUF, IOV, MSG, SIZE_ONLY). */
static __always_inline int emit_call_data(__u64 id, struct call_args a, long ret,
                                          struct conn_info *c)
{
  if (!(c->flags & CONN_SEEN_DATA) && ret >= 2) {
    c->flags |= CONN_SEEN_DATA;
    /* A TLS handshake record (0x16 0x03 ..) as first bytes: the ciphertext is useless to the
     * parsers and would make them give up on the connection before the plaintext arrives. */
    __u8 head[2] = {};
    if (a.kind == CALL_BUF && bpf_probe_read_user(head, 2, (const void *)a.buf) == 0 &&
        head[0] == 0x16 && head[1] == 0x03)
      c->flags |= CONN_TLS;
  }
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
        struct ssl_conn *sc = conn_scratch();
        if (!sc)
          return 0;
        sc->info = *c;
        sc->fd = a.fd;
        /* The plaintext stream's own offsets and HTTP/2 state (the socket's count ciphertext):
         * kept while the SSL object stays on this connection, started afresh on another. */
        sc->info.flags &= ~CONN_STREAM_FLAGS;
        sc->info.off[0] = sc->info.off[1] = 0;
        __builtin_memset(sc->info.h2, 0, sizeof(sc->info.h2));
        if (same) {
          sc->info.flags |= old->info.flags & CONN_STREAM_FLAGS;
          sc->info.off[0] = old->info.off[0];
          sc->info.off[1] = old->info.off[1];
          __builtin_memcpy(sc->info.h2, old->info.h2, sizeof(sc->info.h2));
        }
        bpf_map_update_elem(&ssl_conns, &key, sc, BPF_ANY);
      }
    } else if ((c->flags & CONN_TLS) && a.direction == SOCK_DIR_INGRESS) {
      struct ssl_conn *sc = conn_scratch();
      if (!sc)
        return 0;
      sc->first_read = !(c->flags & CONN_TLS_READ);
      c->flags |= CONN_TLS_READ;
      sc->info = *c;
      sc->fd = a.fd;
      sc->seen_ns = bpf_ktime_get_ns();
      bpf_map_update_elem(&tls_last_reads, &tid, sc, BPF_ANY);
    }
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
      track(id, (int)ret, SOCK_ROLE_SERVER, true, BPF_ANY);
    return 0;
  }
  if (a.kind == CALL_CONNECT) {
    if (ret == 0 || ret == -EINPROGRESS)
      track(id, a.fd, SOCK_ROLE_CLIENT, true, BPF_ANY);
    return 0;
  }
  if (ret <= 0 || a.kind == CALL_PEEK) /* peeked bytes are read again later */
    return 0;
  struct conn_info *c = lookup_conn(id, a.fd);
  if (!c)
    return 0;
  return emit_call_data(id, a, ret, c);
}

#include "sockets/syscall_tracepoints.bpf.h"

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

#include "sockets/tls_uprobes.bpf.h"

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx) { return handle_close((int)ARG(0)); }

#include "sockets/raw_syscalls.bpf.h"

#include "sockets/sock_tracepoints.bpf.h"
