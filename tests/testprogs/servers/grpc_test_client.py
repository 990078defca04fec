#!/usr/bin/python3
"""Calls the gRPC test server: N × Ok, N × Missing, N × Stream over one channel.

usage: grpc_test_client.py PORT N
"""
import sys

import grpc


def main():
    port, n = sys.argv[1], int(sys.argv[2])
    with grpc.insecure_channel("127.0.0.1:" + port) as channel:
        ok = channel.unary_unary("/zt.test.Echo/Ok")
        missing = channel.unary_unary("/zt.test.Echo/Missing")
        stream = channel.unary_stream("/zt.test.Echo/Stream")
        for _ in range(n):
            assert ok(b"ping") == b"pong:ping"
            try:
                missing(b"x")
                raise SystemExit("Missing did not fail")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
            assert len(list(stream(b"s"))) == 3
    print("done", flush=True)


if __name__ == "__main__":
    main()
