#!/usr/bin/python3
"""HTTP/2 peers from Debian's python3-h2 and python3-httpx for the conformance suite.

    h2_peers.py server             an h2c server on python3-h2's protocol engine (one thread a
                                   connection); prints its port, serves until stdin closes
    h2_peers.py server-iovecs      the same, writing each batch of frames as one sendmsg with
                                   every frame header and payload an iovec of its own (as
                                   python3-grpcio does): 50 responses make 200 iovecs
    h2_peers.py httpx URL N        python3-httpx's HTTP/2 client (ALPN over TLS, certificate not
                                   checked) on asyncio, N requests in flight at once on one
                                   connection; prints "completed N failed M" and the first
                                   failure (a request that failed may have been answered: the
                                   suite counts it as ambiguous)
    h2_peers.py httpx-sync URL N   the same with the blocking client and 20 threads
"""
import asyncio
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def frame_pieces(out):
    """Each HTTP/2 frame's 9-byte header and its payload as separate buffers."""
    pieces, at = [], 0
    while at + 9 <= len(out):
        end = at + 9 + int.from_bytes(out[at:at + 3], "big")
        pieces.append(out[at:at + 9])
        if end > at + 9:
            pieces.append(out[at + 9:end])
        at = end
    if at < len(out):
        pieces.append(out[at:])
    return pieces


def send_vectored(conn_sock, out):
    pieces = frame_pieces(out)
    while pieces:
        sent = conn_sock.sendmsg(pieces[:1024])  # IOV_MAX
        while sent and pieces:
            if sent >= len(pieces[0]):
                sent -= len(pieces.pop(0))
            else:
                pieces[0] = pieces[0][sent:]
                sent = 0


def handle(conn_sock, vectored=False):
    def send(out):
        if vectored:
            send_vectored(conn_sock, out)
        else:
            conn_sock.sendall(out)

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    send(conn.data_to_send())
    while True:
        data = conn_sock.recv(65535)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = dict(event.headers)
                path = headers.get(b":path", b"/")
                status = b"404" if path.endswith(b"/missing") else b"200"
                body = b"h2 says hi\n"
                conn.send_headers(event.stream_id, [(b":status", status),
                                                   (b"content-length", b"%d" % len(body))])
                conn.send_data(event.stream_id, body, end_stream=True)
        out = conn.data_to_send()
        if out:
            send(out)
    conn_sock.close()


def server(vectored=False):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(s.getsockname()[1], flush=True)

    def accept():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c, vectored), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


def httpx_sync_client(url, n):
    # Blocking sockets: OpenSSL reads and writes the socket itself (SSL_set_fd), as most TLS
    # clients do; 20 threads share one HTTP/2 connection (concurrent streams).
    import httpx
    from concurrent.futures import ThreadPoolExecutor
    with httpx.Client(http2=True, verify=False, timeout=30,
                      limits=httpx.Limits(max_connections=1)) as client:
        def get(_):
            try:
                return client.get(url).http_version == "HTTP/2"
            except Exception as e:
                return e
        with ThreadPoolExecutor(20) as pool:
            replies = list(pool.map(get, range(n)))
    report(replies)


async def httpx_client(url, n):
    import httpx
    async with httpx.AsyncClient(http2=True, verify=False, timeout=30,
                                 limits=httpx.Limits(max_connections=1)) as client:
        replies = await asyncio.gather(*(client.get(url) for _ in range(n)),
                                       return_exceptions=True)
    report([r if isinstance(r, Exception) else r.http_version == "HTTP/2" for r in replies])


def report(replies):
    """replies: True (an HTTP/2 answer), False (answered over another version) or the exception."""
    failures = [r for r in replies if isinstance(r, Exception)]
    print(f"completed {sum(1 for r in replies if r is True)} failed {len(failures)}")
    if failures:
        print(f"first failure: {type(failures[0]).__name__}: {failures[0]}")


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("server", "server-iovecs"):
        server(vectored=sys.argv[1] == "server-iovecs")
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "httpx-sync":
        httpx_sync_client(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "httpx":
        asyncio.run(httpx_client(sys.argv[2], int(sys.argv[3])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
