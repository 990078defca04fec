/* sockets probe: kernel/user ABI. Connection lifecycle and data events from the sock
 * tracepoints (or syscall tracepoints on older kernels); protocol parsing happens in userspace. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Rings the events are spread over (by CPU); the loader uses min(CPUs, this). */
#define ZT_SOCK_MAX_RINGS 16
#define ZT_SOCK_MAX_CAPTURE 16384 /* per read/write; the loader may lower it (capture_bytes) */
#define ZT_SOCK_MAX_IOV 32        /* iovecs gathered per readv/writev/recvmsg/sendmsg */
#define ZT_SOCK_MAX_CONNS 65536

enum sock_event_type {
  SOCK_EVENT_OPEN = 1,  /* a connection was accepted, connected, or first seen */
  SOCK_EVENT_DATA = 2,  /* bytes read or written */
  SOCK_EVENT_CLOSE = 3, /* close() on the fd, or the socket reached TCP_CLOSE */
  SOCK_EVENT_EXEC = 4,  /* a traced process exec'd (tgid, comm): userspace looks for new libssl */
};

enum sock_role {
  SOCK_ROLE_UNKNOWN = 0, /* already open when we started: inferred from the bytes */
  SOCK_ROLE_SERVER = 1,  /* the process accepted it */
  SOCK_ROLE_CLIENT = 2,  /* the process connected it */
};

enum sock_direction {
  SOCK_DIR_INGRESS = 0, /* the process read these bytes */
  SOCK_DIR_EGRESS = 1,  /* the process wrote these bytes */
};

enum sock_drop_reason {
  SOCK_DROP_RINGBUF = 0,    /* ring buffer full: an event was lost */
  SOCK_DROP_CONNS_FULL = 1, /* connection map full: a connection is not tracked */
  /* HTTP/2 frames stopped being followed in one direction of a connection (a frame header split
   * over more pieces than followed, more frames in one call than walked, bytes not seen): its
   * later calls larger than the capture size lose what lies past the capture. Not an event loss. */
  SOCK_DROP_H2_FRAMING = 2,
  /* An SSL_read/SSL_write whose socket is unknown: no socket I/O under it or just before it on
   * its thread (see tls_last_reads), so its plaintext is not parsed. */
  SOCK_DROP_TLS_UNLINKED = 3,
  SOCK_DROP_MAX = 4,
};

/* (tgid, fd, gen) names a connection; gen tells apart two connections that reused one fd. */
struct sock_event_header {
  __u64 ts;   /* bpf_ktime_get_ns() at the syscall's exit */
  __u64 gen;  /* connection generation: the time it was first seen */
  __u64 size; /* DATA: true byte count of the read/write (>= captured) */
  __u32 tgid;
  __u32 tid;
  __s32 fd;
  __u32 captured; /* DATA: bytes of data[] that follow */
  __u8 type;      /* enum sock_event_type */
  __u8 role;      /* enum sock_role */
  __u8 direction; /* enum sock_direction */
  __u8 family;    /* AF_INET / AF_INET6 */
  __u16 lport;    /* host byte order */
  __u16 rport;    /* host byte order */
  __u8 laddr[16]; /* IPv4 in the first 4 bytes */
  __u8 raddr[16];
  union {
    char comm[16]; /* OPEN: the thread's comm */
    /* DATA with SOCK_EV_SERVER_TRACE: the kernel's trace id for the request this read began
     * (bpf/propagation.h: struct prop_thread) */
    __u8 trace_id[16];
    /* DATA with SOCK_EV_INJECTED_*: the traceparent inserted into this write */
    struct {
      __u64 span_id;
      __u64 aux; /* INJECTED_THREAD: the server request's start ts; INJECTED_NEW: trace id high */
    } ids;
  };
  /* DATA with SOCK_EV_STREAM_OFF: offset of this call's first byte in its direction's stream
   * (bytes since the connection was first seen). A jump from the previous event's end is bytes
   * the kernel did not send at all (see sock_skip_value). */
  __u64 stream_off;
  __u32 captured_from; /* DATA: data[] starts this many bytes into the call (skipped before) */
  __u32 flags;         /* SOCK_EV_* */
  __u32 segments;      /* SOCK_EV_H2_FRAMED / SOCK_EV_SEGMENT: SEGMENT events still to come */
  /* With SOCK_EV_SND_SEQ: the TCP socket's write_seq (every byte this side ever queued to send,
   * mod 2^32) when the event was made; on an OPEN event, at the handshake. */
  __u32 snd_seq;
};

/* stream_off is valid. For a TLS connection it counts plaintext bytes (SSL_read/SSL_write
 * results), never the ciphertext on the socket. */
#define SOCK_EV_STREAM_OFF 1
/* HTTP/2 frame following. A call larger than the capture size would lose the frame headers and
 * header blocks past the capture (gRPC trailers after a large message, the HPACK updates they
 * carry: every later request of the connection would be unparsable). In a direction that began
 * with the HTTP/2 preface or a SETTINGS frame the kernel follows frame boundaries (headers only,
 * no payload is interpreted) and sends, after the event, `segments` SEGMENT events with the
 * bytes past data[] that are frame headers or payload of frames other than DATA. Every other
 * uncaptured byte of the call is DATA payload, which the parser skips. */
#define SOCK_EV_H2_FRAMED 2
#define SOCK_EV_SEGMENT 4 /* bytes [captured_from, +captured) of the call at stream_off */
/* snd_seq is valid (TCP socket I/O of a client or unknown side; not the plaintext of SSL calls,
 * not a server's I/O: only a client's reads are held). It orders a connection's
 * two directions by cause: a write's event is made after its bytes reached the peer, so a reply
 * read on another CPU can carry an earlier timestamp than the write that caused it (a Go client
 * writes and reads on different threads); the read's snd_seq still counts the write's bytes. */
#define SOCK_EV_SND_SEQ 8
/* traceparent propagation (bpf/propagation.h), only when it is on: see trace_id and ids. */
#define SOCK_EV_SERVER_TRACE 16
#define SOCK_EV_INJECTED_THREAD 32 /* trace id: the SERVER_TRACE of (tid, ids.aux) */
#define SOCK_EV_INJECTED_NEW 64    /* trace id: ids.aux (high half), ids.span_id (low half) */
/* Per call, each at most the capture size (a power of two: indexes are masked). More: frame
 * following stops for that direction and the rest of the call is a gap for the parser. */
#define ZT_H2_MAX_SEGMENTS 64
/* Frame headers walked per call (bpf_loop iterations: run time only, not verifier cost): 1000
 * concurrent streams' requests or responses in one write. */
#define ZT_H2_MAX_FRAMES 16384

/* Userspace -> kernel capture hints, per connection: bytes a parser will skip anyway (a body of
 * declared length) or a connection whose protocol was not recognised need not be copied. A call
 * that ends before `until[direction]` sends no event; one that crosses it is captured from
 * there (single-buffer calls; vectored calls are captured whole). */
struct sock_skip_key {
  __u32 tgid;
  __s32 fd;
  __u64 gen;
};

#define ZT_SOCK_SKIP_ALL (~0ULL) /* every later byte, both directions: an ignored connection */

struct sock_skip_value {
  __u64 until[2]; /* by enum sock_direction: stream offset below which bytes are not sent */
};
/* An OPEN event may carry data: the process environment (NUL-separated, a prefix of at most the
 * capture size), sent with the first connection of each process so a process that exits before
 * userspace reads /proc is still named by its OTEL_SERVICE_NAME. */

/* data[] is twice the capture limit only so the kernel side can gather iovecs at a bounded
 * offset; at most ZT_SOCK_MAX_CAPTURE bytes are ever sent. */
struct sock_data_event {
  struct sock_event_header h;
  __u8 data[2 * ZT_SOCK_MAX_CAPTURE];
};
