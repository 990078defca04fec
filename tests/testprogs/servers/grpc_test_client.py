#!/usr/bin/python3
"""Calls the gRPC test server over one channel.

usage: grpc_test_client.py PORT N [BIG]
Without BIG: N x Ok, N x Missing, N x Stream.
With BIG (bytes): N x Ok with a BIG-byte request (and answer), N x Big answering BIG bytes,
N x Missing with a BIG-byte request: messages far larger than one capture.
"""
import sys

import grpc


def main():
    port, n = sys.argv[1], int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    limits = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel("127.0.0.1:" + port, options=limits) as channel:
        ok = channel.unary_unary("/zt.test.Echo/Ok")
        missing = channel.unary_unary("/zt.test.Echo/Missing")
        stream = channel.unary_stream("/zt.test.Echo/Stream")
        big = channel.unary_unary("/zt.test.Echo/Big")
        for _ in range(n):
            if size:
                assert len(ok(b"p" * size)) == size + len(b"pong:")
                assert len(big(str(size).encode())) == size
            else:
                assert ok(b"ping") == b"pong:ping"
            try:
                missing(b"x" * max(size, 1))
                raise SystemExit("Missing did not fail")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
            if not size:
                assert len(list(stream(b"s"))) == 3
    print("done", flush=True)


if __name__ == "__main__":
    main()
