#!/usr/bin/python3
"""Differential test: python3-hpack (an independent encoder, Debian) encodes random header sets;
our HPACK decoder and HTTP/2 parser (zt_hpack_decode_tool) must give back exactly what went in.

    hpack_differential.py --tool build/tests/unit/protocols/zt_hpack_decode_tool \
        [--blocks 100000] [--connections 2000] [--seed N]

Covers: Huffman and raw strings, incremental indexing and never-indexed fields, dynamic-table
evictions (large values), table size updates (0 ... 64 KiB), static and dynamic name reuse; and
at the HTTP/2 level HEADERS split into CONTINUATION frames, padding, priority, interleaved
streams, responses in any order, writes split at any byte.
"""
import argparse
import random
import struct
import subprocess
import sys

from hpack import Encoder, HeaderTuple, NeverIndexedHeaderTuple

STATIC_NAMES = [b":authority", b":method", b":path", b":scheme", b":status", b"accept",
                b"accept-encoding", b"accept-language", b"cache-control", b"content-length",
                b"content-type", b"cookie", b"date", b"etag", b"host", b"user-agent", b"via",
                b"authorization", b"set-cookie", b"location", b"server", b"grpc-status",
                b"grpc-message", b"te", b"traceparent", b"x-request-id"]


def rand_name(rng):
    if rng.random() < 0.6:
        return rng.choice(STATIC_NAMES)
    n = rng.randint(1, 24)
    return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))


def rand_value(rng):
    r = rng.random()
    if r < 0.05:
        n = rng.randint(1000, 5000)  # evicts most of a 4 KiB table
    elif r < 0.1:
        n = 0
    else:
        n = rng.randint(1, 80)
    if rng.random() < 0.2:  # any octet
        return bytes(rng.randrange(256) for _ in range(n))
    return bytes(rng.randrange(0x20, 0x7f) for _ in range(n))


def rand_headers(rng, regular_only=False):
    out = []
    for _ in range(rng.randint(0, 12)):
        name, value = rand_name(rng), rand_value(rng)
        if regular_only and (name.startswith(b":") or name == b"host"):
            continue  # HTTP/2 allows pseudo-headers only first, once each (RFC 9113 8.3)
        if rng.random() < 0.1:
            out.append(NeverIndexedHeaderTuple(name, value))
        else:
            out.append(HeaderTuple(name, value))
    return out


def run_tool(tool, mode, text):
    r = subprocess.run([tool, mode], input=text.encode(), capture_output=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"{tool} {mode} failed: {r.stderr.decode()[-500:]}")
    return r.stdout.decode().splitlines()


def hpack_blocks(tool, blocks, rng):
    lines, expected = [], []
    enc = None
    for i in range(blocks):
        if enc is None or rng.random() < 0.002:
            enc = Encoder()
            lines.append("N")
        if rng.random() < 0.02:
            enc.header_table_size = rng.choice([0, 64, 256, 1024, 4096, 8192, 65536])
        headers = rand_headers(rng)
        block = enc.encode(headers, huffman=rng.random() < 0.5)
        lines.append("B " + block.hex())
        expected.append([(bytes(h[0]), bytes(h[1])) for h in headers])
    out = run_tool(tool, "hpack", "\n".join(lines) + "\n")
    pos, bad = 0, 0
    for i, want in enumerate(expected):
        head = out[pos]
        pos += 1
        if not head.startswith("OK "):
            bad += 1
            if bad <= 5:
                print(f"block {i}: {head}; wanted {want[:3]}...")
            continue
        n = int(head[3:])
        got = []
        for line in out[pos:pos + n]:
            name, value = line.split(" ")
            got.append((b"" if name == "-" else bytes.fromhex(name),
                        b"" if value == "-" else bytes.fromhex(value)))
        pos += n
        if got != want:
            bad += 1
            if bad <= 5:
                print(f"block {i}: decoded {got[:4]} wanted {want[:4]}")
    print(f"hpack: {blocks} blocks from python3-hpack, {bad} differ")
    return bad


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def header_frames(rng, stream, block, end_stream):
    """HEADERS (maybe padded, with priority) + CONTINUATION frames carrying `block`."""
    cuts = sorted(rng.sample(range(1, len(block)), min(len(block) - 1, rng.randint(0, 3)))) \
        if len(block) > 1 else []
    parts = [block[a:b] for a, b in zip([0] + cuts, cuts + [len(block)])]
    flags = 0x1 if end_stream else 0
    if len(parts) == 1:
        flags |= 0x4
    first = parts[0]
    if rng.random() < 0.2:  # priority
        flags |= 0x20
        first = struct.pack(">IB", rng.randrange(0, 1 << 31), rng.randrange(256)) + first
    if rng.random() < 0.2:  # padding
        pad = rng.randint(0, 20)
        flags |= 0x8
        first = bytes([pad]) + first + b"\0" * pad
    out = frame(0x1, flags, stream, first)
    for i, p in enumerate(parts[1:]):
        out += frame(0x9, 0x4 if i == len(parts) - 2 else 0, stream, p)
    return out


def split_writes(rng, data):
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 400) if rng.random() < 0.7 else len(data) - i
        out.append(data[i:i + n])
        i += n
    return out


def h2_connections(tool, connections, rng):
    lines, expected = [], []
    for _ in range(connections):
        cenc, senc = Encoder(), Encoder()
        client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(0x4, 0, 0, b"")
        server = frame(0x4, 0, 0, b"") + frame(0x4, 0x1, 0, b"")
        streams = list(range(1, 2 * rng.randint(1, 12), 2))
        want = {}
        for sid in streams:
            path = "/" + "".join(rng.choice("abcxyz/09") for _ in range(rng.randint(0, 30)))
            host = "h%d.example:%d" % (rng.randrange(100), rng.randrange(1, 65536))
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
            hs = [(":method", method), (":scheme", "http"), (":path", path + "?q=1"),
                  (":authority", host)] + rand_headers(rng, True)
            block = cenc.encode(hs, huffman=rng.random() < 0.5)
            client += header_frames(rng, sid, block, True)
            want[sid] = (method, path, host)
        rng.shuffle(streams)
        status = {}
        for sid in streams:
            st = rng.choice([200, 204, 301, 404, 500, 503])
            block = senc.encode([(":status", str(st))] + rand_headers(rng, True),
                                huffman=rng.random() < 0.5)
            with_data = rng.random() < 0.5
            server += header_frames(rng, sid, block, not with_data)
            if with_data:
                server += frame(0x0, 0x1, sid, b"x" * rng.randint(0, 50))
            status[sid] = st
        for chunk in split_writes(rng, client):
            lines.append("C " + chunk.hex())
        for chunk in split_writes(rng, server):
            lines.append("S " + chunk.hex())
        expected.append({sid: want[sid] + (status[sid],) for sid in want})
        lines.append("END")
    # One parser per connection: run the tool once per connection batch.
    bad, records, i = 0, 0, 0
    text, conn = [], 0
    for line in lines:
        if line != "END":
            text.append(line)
            continue
        out = run_tool(tool, "h2", "\n".join(text) + "\n")
        text = []
        got = {}
        for r in out:
            _, sid, ok, method, path, host, st = r.split(" ")
            dec = lambda h: "" if h == "-" else bytes.fromhex(h).decode()  # noqa: E731
            got[int(sid)] = (dec(method), dec(path), dec(host), int(st)) if ok == "1" else None
        records += len(got)
        if got != expected[conn]:
            bad += 1
            if bad <= 5:
                print(f"connection {conn}: got {got} wanted {expected[conn]}")
        conn += 1
        i += 1
    print(f"h2: {connections} connections, {records} records, {bad} connections differ")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--blocks", type=int, default=100000)
    ap.add_argument("--connections", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    bad = hpack_blocks(args.tool, args.blocks, rng)
    bad += h2_connections(args.tool, args.connections, rng)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
