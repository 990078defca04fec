/* An HTTP/1 request head read one byte at a time, for the propagation program (packet bytes)
 * and the sockets probe (captured bytes): where the request line ends, where the head ends, and
 * whether a traceparent header is in it.
 *
 * Written for the verifier of the oldest kernel (5.10, no bpf_loop): each byte costs a few ALU
 * operations on three shift registers and at most three branches, on one small state (in the
 * request line or not); a comparison per header line start, or recording positions it would
 * have to branch on later, made it explore a path per byte position and pass 1M instructions. */
#pragma once

struct prop_head_scan {
  __u64 w;        /* the last 8 bytes, lower-cased (| 0x20), newest in the low byte */
  __u64 w2;       /* the 8 bytes before those */
  __u64 last4;    /* the last 4 bytes as they are */
  __u64 line_end; /* offset just past the request line's \n (0 while not seen) */
  __u64 in_request_line; /* 1 until that \n */
};

enum { PROP_SCAN_MORE, PROP_SCAN_HEAD_END, PROP_SCAN_TRACEPARENT };

/* "eparent:" and "\ntrac", lower-cased the same way ('\n' | 0x20 = 0x2a): together the 13 bytes
 * of a header line named traceparent (any case). */
#define PROP_W_EPARENT 0x65706172656e743aULL
#define PROP_W2_NTRAC 0x2a74726163ULL

static __always_inline void prop_head_scan_init(struct prop_head_scan *s)
{
  s->w = 0;
  s->w2 = 0;
  s->last4 = 0;
  s->line_end = 0;
  s->in_request_line = 1;
}

/* Byte c at offset i. PROP_SCAN_HEAD_END: c ends the head's empty line; PROP_SCAN_TRACEPARENT:
 * c is the ':' after a header name traceparent (its value follows).
 * No branch depends on one byte's value alone: a branch on c == '\n' would let the verifier
 * learn that byte, and the shift registers holding it would differ from the other paths' for
 * the next 16 bytes (a state per path and byte). The request line's end is found with
 * arithmetic, and each exit is one comparison of a combined value. */
static __always_inline int prop_head_step(struct prop_head_scan *s, __u8 c, __u32 i)
{
  __u64 nl = ((__u64)(c ^ '\n') - 1) >> 63; /* 1 when c is \n */
  __u64 first = nl & s->in_request_line;
  s->line_end += ((__u64)i + 1) * first;
  s->in_request_line &= nl ^ 1;
  s->last4 = (s->last4 << 8 | c) & 0xffffffffULL;
  s->w2 = s->w2 << 8 | s->w >> 56;
  s->w = s->w << 8 | (c | 0x20);
  /* In the request line nothing ends the head (its own \r\n is not the empty line). */
  if (((s->last4 ^ 0x0d0a0d0aULL) | s->in_request_line | first) == 0)
    return PROP_SCAN_HEAD_END;
  if (((s->w ^ PROP_W_EPARENT) | ((s->w2 & 0xffffffffffULL) ^ PROP_W2_NTRAC) |
       s->in_request_line) == 0)
    return PROP_SCAN_TRACEPARENT;
  return PROP_SCAN_MORE;
}
