#!/usr/bin/python3
"""gRPC test server (Debian's python3-grpcio, no generated stubs: raw bytes messages).

/zt.test.Echo/Ok        unary, OK
/zt.test.Echo/Missing   unary, fails with NOT_FOUND
/zt.test.Echo/Stream    server streaming, 3 messages, OK
/zt.test.Echo/Big       unary, OK: answers as many bytes as the request's decimal number says
Prints "ready <port>"; exits when stdin closes.
"""
import sys
from concurrent import futures

import grpc


def ok(request, context):
    return b"pong:" + request


def missing(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def big(request, context):
    return b"x" * int(request.decode())


def stream(request, context):
    for i in range(3):
        yield b"item-%d" % i


def main():
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "Missing": grpc.unary_unary_rpc_method_handler(missing),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Big": grpc.unary_unary_rpc_method_handler(big),
    }
    # Messages up to 64 MiB (grpcio's default receive limit is 4 MiB).
    limits = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=limits)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("zt.test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("ready", port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
