#!/usr/bin/python3
"""gRPC load for the conformance suite (python3-grpcio, generic handlers, no generated code).

Starts a server (in a child process named OTEL_SERVICE_NAME + "-server", or in this process with
--in-process), then makes --calls unary RPCs on one channel, --in-flight at a time; every fourth
call goes to a method that fails with NOT_FOUND. Prints "port N" and "completed N" (calls that
ended with a status, OK or not: each is one exchange on the wire).
"""
import argparse
import os
import subprocess
import sys
import time
from concurrent import futures

import grpc

SERVICE = "conf.Echo"


def serve(port_file=None):
    def say(request, context):
        return request

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def hold(request, context):
        # One message at once (the client's proof that the call is on the wire), then nothing
        # until the client's deadline or cancellation ends the call.
        yield b"first"
        for _ in range(500):
            if not context.is_active():
                return
            time.sleep(0.01)

    def stream(request, context):
        # Small and large messages: 300 KB crosses the capture and the flow-control window.
        for size in (10, 300000, 20, 5000):
            yield b"s" * size

    def echo(requests, context):
        for r in requests:
            yield r

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Hold": grpc.unary_stream_rpc_method_handler(hold),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Echo": grpc.stream_stream_rpc_method_handler(echo),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_concurrent_streams", 1000)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def streams(channel, calls):
    """Each kind `calls` times (deadlines every fourth round): every call ends with a status the
    client sees (OK, DEADLINE_EXCEEDED, CANCELLED). Returns (completed, ambiguous).

    A call cancelled, or whose deadline passes, before gRPC wrote its HEADERS never reaches the
    wire (a loaded CI host showed it); so the client cancels only after the server's first
    message, and a deadline call counts only when that message came first. One that timed out
    before it is ambiguous (on the wire or not) and reported as such."""
    stream = channel.unary_stream(f"/{SERVICE}/Stream")
    echo = channel.stream_stream(f"/{SERVICE}/Echo")
    hold = channel.unary_stream(f"/{SERVICE}/Hold")
    done = ambiguous = 0
    for i in range(calls):
        assert sum(len(m) for m in stream(b"go", timeout=30)) == 305030
        done += 1
        assert len(list(echo(iter([b"a" * 10, b"b" * 70000, b"c"]), timeout=30))) == 3
        done += 1
        if i % 4 == 0:
            got_first = False
            try:
                for _ in hold(b"late", timeout=0.5):
                    got_first = True
                raise AssertionError("a held call ended without its deadline")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
                if got_first:
                    done += 1
                else:
                    ambiguous += 1
        call = hold(b"cancel me", timeout=30)
        assert next(call) == b"first"
        call.cancel()
        done += 1
    return done, ambiguous


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--in-flight", type=int, default=100)
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--streams", action="store_true",
                    help="server-streaming, bidi, deadline-exceeded and cancelled calls instead")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        server, port = serve()
        print(port, flush=True)
        sys.stdin.read()  # until the parent closes it
        server.stop(0)
        return 0
    child = None
    if args.in_process:
        server, port = serve()
    else:
        env = dict(os.environ, OTEL_SERVICE_NAME=os.environ.get("OTEL_SERVICE_NAME", "conf") +
                   "-server")
        child = subprocess.Popen([sys.executable, __file__, "--serve"], env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port = int(child.stdout.readline())
    completed = 0
    by_status = {}
    if args.streams:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            completed, ambiguous = streams(channel, args.calls)
            print(f"ambiguous {ambiguous}")
        args.calls = 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        say = channel.unary_unary(f"/{SERVICE}/Say")
        fail = channel.unary_unary(f"/{SERVICE}/Fail")
        grpc.channel_ready_future(channel).result(timeout=10)
        done = 0
        while done < args.calls:
            batch = min(args.in_flight, args.calls - done)
            calls = [(fail if (done + i) % 4 == 3 else say).future(b"x" * 32, timeout=30)
                     for i in range(batch)]
            for c in calls:
                try:
                    c.result()
                    completed += 1
                    by_status[0] = by_status.get(0, 0) + 1
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.NOT_FOUND:
                        completed += 1
                        by_status[5] = by_status.get(5, 0) + 1
            done += batch
    if child:
        child.stdin.close()
        child.wait(10)
    else:
        server.stop(0)
    print(f"port {port}")
    print(f"completed {completed}")
    for code, n in sorted(by_status.items()):
        print(f"status {code} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
