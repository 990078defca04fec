#!/usr/bin/python3
"""An HTTP/1.1 client that writes on one thread and reads on another, as Go's net/http (write
and read loops), Java's blocking clients and proxies do, for the conformance suite.

Each request is a POST with a body larger than the socket buffers, written by a writer thread
in one blocking send while the main thread reads the reply: a server that answers before reading
the body (nginx's `return 404` does) makes the reply's read return while the write that caused
it is still in the kernel, so the collector receives the read first. Keep-alive: every request
on one connection. Prints "completed N" (replies read).

usage: split_io_client.py PORT PATH REQUESTS BODY_BYTES
"""
import socket
import sys
import threading


def read_reply(sock, buf):
    """One response with Content-Length; returns (status, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before a reply")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a reply")
        rest += chunk
    return status, rest[length:]


def main():
    port, path, requests, body_bytes = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                        int(sys.argv[4]))
    body = b"x" * body_bytes
    sock = socket.create_connection(("127.0.0.1", port))
    completed = 0
    buf = b""
    for _ in range(requests):
        request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        writer = threading.Thread(target=sock.sendall, args=(request,))
        writer.start()
        status, buf = read_reply(sock, buf)
        writer.join()
        if status:
            completed += 1
    sock.close()
    print(f"completed {completed}")


if __name__ == "__main__":
    main()
