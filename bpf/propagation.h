/* traceparent propagation: kernel/user ABI shared by the propagation probe (sock_ops + sk_msg,
 * bpf/propagation.bpf.c), the sockets probe (which owns a thread's server trace context and
 * reports what was injected) and userspace.
 *
 * An HTTP/1 request written by a traced process on a client TCP connection that carries no
 * `traceparent` gets one, inserted after its request line by an sk_msg program:
 *   traceparent: 00-<trace id>-<span id>-01\r\n
 * The span id is new and becomes the id of the client span zerotrace builds for that request. The
 * trace id is the one of the server request the thread is serving when that link is certain
 * (see struct prop_thread), else a new trace. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_PROP_MAX_THREADS 65536
#define ZT_PROP_MAX_SOCKETS 65536
#define ZT_PROP_MAX_PROCESSES 8192
/* Bytes of a request head the kernel looks through: for the end of the request line and of the
 * header block, and for a traceparent already there. A head that does not end within it is left
 * alone (a traceparent could be further on). */
#define ZT_PROP_SCAN_BYTES 1024
/* "traceparent: 00-" + 32 + "-" + 16 + "-01\r\n" */
#define ZT_PROP_HEADER_BYTES 70

/* The HTTP/1 server request a thread is serving, owned by the kernel (the sockets probe writes
 * it when a server read begins with a request line): the propagation program reads it in the
 * same thread's later writes, long before userspace could have seen the request. */
struct prop_thread {
  __u64 req_ts;      /* the read's event timestamp (= RequestStart.start_ns in userspace) */
  __u64 gen;         /* the request's connection: (tgid, fd, gen) */
  __s32 fd;
  __u32 tgid;
  __u8 trace_id[16]; /* the server span's trace id (the request carried none) */
  __u8 busy;         /* read, not answered yet (no write on its connection since) */
  __u8 flags;        /* PROP_THREAD_* */
  __u8 pad[6];
};
/* Sticky: a request began on this thread while another one was unanswered (an event loop). */
#define PROP_THREAD_CONCURRENT 1
/* The current request carries its own traceparent, or its head was not seen whole: its trace
 * is not the kernel's. */
#define PROP_THREAD_FOREIGN 2

/* What the propagation program inserted, for the sockets probe's event of the same write (same
 * thread, same connection ports): consumed there and reported in the event header. */
struct prop_injected {
  __u64 span_id;
  __u64 aux;   /* PROP_MODE_THREAD: the server request's req_ts; PROP_MODE_NEW: trace id half */
  __u16 lport; /* host byte order */
  __u16 rport; /* host byte order */
  __u8 mode;   /* PROP_MODE_* */
  __u8 pad[3];
};
#define PROP_MODE_THREAD 1 /* trace id = the thread's server request's (struct prop_thread) */
#define PROP_MODE_NEW 2    /* a new trace: trace id = aux (8 bytes, big-endian) + span_id */

/* Sockhash key: a connection by its addresses (as struct bpf_sock_ops gives them). */
struct prop_sock_key {
  __u32 family;
  __u32 lport;    /* host byte order */
  __u32 rport;    /* network byte order */
  __u32 laddr[4]; /* IPv4: laddr[0] */
  __u32 raddr[4];
};

enum prop_stat {
  PROP_STAT_INJECTED_THREAD = 0, /* inserted, in the trace of the request being served */
  PROP_STAT_INJECTED_NEW = 1,    /* inserted, in a new trace */
  PROP_STAT_HAD_TRACEPARENT = 2, /* the request carries one already: untouched */
  PROP_STAT_HEAD_NOT_WHOLE = 3,  /* the head does not end in this write's first
                                    ZT_PROP_SCAN_BYTES: untouched */
  PROP_STAT_PUSH_FAILED = 4,     /* bpf_msg_push_data failed: untouched */
  PROP_STAT_SOCKETS_FULL = 5,    /* a connection could not be followed (sockhash full) */
  PROP_STAT_MAX = 6,
};

/* The event of the write that carried the insertion reports it in sock_event_header.ids
 * (SOCK_EV_INJECTED_THREAD / _NEW), and the event of a server read that began a request carries
 * the kernel's trace id for it in sock_event_header.trace_id (SOCK_EV_SERVER_TRACE). Ids are
 * written on the wire as big-endian hex of these 64-bit values. */
