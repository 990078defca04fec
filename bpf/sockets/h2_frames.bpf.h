/* SPDX-License-Identifier: GPL-2.0 */
/* Part of sockets.bpf.c, #included there at this point (one object, one skeleton); it uses
 * the maps and helpers defined before it and is not compiled on its own.
 * The HTTP/2 frame walker: frame headers followed past a call's captured bytes (bpf_loop). */

/* HTTP/2 frame following (see SOCK_EV_H2_FRAMED in sockets.h). Only frame headers are read
 * here: 9 bytes each, the length and type telling where the next one starts and whether the
 * payload matters to the parser (anything but DATA). What lies past the event's own bytes is
 * sent as SEGMENT events after it. */
#define H2_IOV_MASK (ZT_SOCK_MAX_IOV - 1)
#define H2_SEG_MASK (ZT_H2_MAX_SEGMENTS - 1)

/* The piece holding call position `pos` (< the call's length), or -1 past the last piece. A
 * binary search without a loop over the pieces: the frame walk and the segment copy call it in
 * loops of their own, and nested loops multiply what the verifier explores. end[] is padded
 * with the call's length past the last piece. A global function, verified once on its own: its
 * callers see one bounded unknown index. Inlined, each of the 32 values the search can end with
 * went on through the rest of the caller's loop: half of the sockets programs' verifier budget. */
__noinline int h2_piece_at(__u64 pos)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w)
    return -1;
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
  /* The steps reach index 31 at most: a position past the last of 32 pieces lands there too,
   * and would read a frame header from whatever memory follows that iovec (python3-grpcio's
   * batched sendmsg of 60+ iovecs: a garbage DATA length, every later write of the connection
   * skipped as its payload). */
  if (lo >= w->pieces || w->end[lo & H2_IOV_MASK] <= pos)
    return -1;
  return lo & H2_IOV_MASK;
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
    int piece = h2_piece_at(pos);
    if (piece < 0)
      return false;
    __u32 c = (__u32)piece & H2_IOV_MASK;
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

/* One step of recording the walk's pending range [rest_from, rest_to), bytes that must reach
 * the parser: the part the event itself does not carry becomes segments. Adjacent ranges merge,
 * and a segment never grows past the capture size (one event holds no more: a longer one would
 * reach the parser cut, a lost frame header). One step per bpf_loop iteration, not a loop here:
 * a loop inside the frame walk multiplied the states the verifier explores past its limit. */
static __always_inline void h2_range_step(struct h2_walk *w)
{
  __u64 from = w->rest_from, to = w->rest_to;
  if (from < w->head)
    from = w->head;
  if (from >= to) {
    w->rest_from = w->rest_to;
    return;
  }
  __u32 n = w->nseg;
  __u64 take = 0;
  if (n > 0 && n <= ZT_H2_MAX_SEGMENTS) {
    __u32 last = n - 1;
    barrier_var(last); /* the compiler would drop the mask the verifier needs */
    last &= H2_SEG_MASK;
    __u64 seg_len = w->seg_to[last] - w->seg_from[last];
    if (w->seg_to[last] == from && seg_len < capture_bytes) {
      __u64 room = capture_bytes - seg_len;
      take = to - from < room ? to - from : room;
      w->seg_to[last] = from + take;
    }
  }
  if (take == 0) {
    if (n >= ZT_H2_MAX_SEGMENTS) {
      w->lost = 1;
      return;
    }
    take = to - from < capture_bytes ? to - from : capture_bytes;
    __u32 i = n;
    barrier_var(i);
    i &= H2_SEG_MASK;
    w->seg_from[i] = from;
    w->seg_to[i] = from + take;
    w->nseg = n + 1;
  }
  w->rest_from = from + take;
}

/* One frame header, or one step of recording the range it made pending; 1 to stop. A global
 * function, as are the other loop bodies below: verified once on its own, not again for every
 * state the loop's convergence check brings to the callback (6.7+ verifies bpf_loop callbacks
 * as loops; inlined, these bodies took the sockets programs past 50 % of the 1M limit on 6.12). */
__noinline int h2_frame_step(void)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w || w->lost)
    return 1;
  if (w->rest_from < w->rest_to) {
    h2_range_step(w);
    return 0;
  }
  if (w->pos >= w->len)
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
  w->pos = from + take;
  w->rest_from = from;
  w->rest_to = w->pos;
  if (w->have < 9)
    return 0; /* the header goes on in the next call: this one ends after its range */
  w->have = 0;
  w->in_data = w->hdr[3] == 0;
  __u64 len = (__u32)w->hdr[0] << 16 | (__u32)w->hdr[1] << 8 | w->hdr[2];
  /* Not DATA (headers, settings, resets: the parser reads them), or a DATA payload so small that
   * copying it costs less than the segment that skipping it would start: the responses of many
   * concurrent streams in one write then travel as a few contiguous segments. The payload
   * follows the header: one range. */
  if (w->hdr[3] != 0 || len < H2_DATA_MERGE_MAX) {
    __u64 to = w->pos + len;
    w->rest_to = to < w->len ? to : w->len;
  }
  w->pos += len;
  return 0;
}

/* Sends segment `index` of the walk as a SEGMENT event; 1 to stop. */
__noinline int h2_emit_segment(__u64 index)
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
    if (from >= to || e->h.captured >= capture_bytes)
      break;
    int piece = h2_piece_at(from);
    if (piece < 0)
      break;
    __u32 c = (__u32)piece & H2_IOV_MASK;
    __u64 in_piece = w->end[c] - from;
    __u64 n = to - from < in_piece ? to - from : in_piece;
    append(e, (const void *)(w->base[c] + (from - h2_piece_start(w, c))), n);
    from += n;
  }
  send_data(e);
  return 0;
}


/* Piece `index` of a vectored call (end[] padded past the last one); 1 to stop. */
__noinline int h2_piece_step(__u64 index)
{
  __u32 zero = 0;
  struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
  if (!w || index >= ZT_SOCK_MAX_IOV)
    return 1;
  /* Past the last piece: where the pieces end. Only the first ZT_SOCK_MAX_IOV iovecs are set
   * up, so a call with more ends there for the walk (a frame past it is lost, not read from
   * the wrong address). */
  __u64 sum = w->sum;
  if (index < w->pieces) {
    w->base[index] = (__u64)w->iov[index].iov_base;
    sum = w->sum + w->iov[index].iov_len;
    w->sum = sum;
  }
  w->end[index] = sum < w->len ? sum : w->len;
  return 0;
}

static long h2_piece(__u64 index, void *unused)
{
  return h2_piece_step(index) ? 1 : 0;
}

static long h2_frame(__u64 index, void *unused)
{
  return h2_frame_step() ? 1 : 0;
}

/* Finds the call's pieces, then walks its frames (run once, by bpf_loop: see h2_walk_call). */
__noinline int h2_walk_pieces_and_frames(void)
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

static long h2_walk_cb(__u64 index, void *unused)
{
  return h2_walk_pieces_and_frames() ? 1 : 0;
}

static long h2_emit(__u64 index, void *unused)
{
  return h2_emit_segment(index) ? 1 : 0;
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
  w->rest_from = w->rest_to = 0;
  w->kind = a->kind;
  w->buf = a->buf;
  w->iovcnt = a->iovcnt;
  /* In a callback, the walk is verified once instead of on every path that reaches here. */
  bpf_loop(1, h2_walk_cb, NULL, 0);
  if (w->lost || (w->pos < w->len && w->have == 0) || w->rest_from < w->rest_to) {
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
