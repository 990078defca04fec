#!/usr/bin/python3
"""An HTTP/1.1 keep-alive server on asyncio with TLS, for the conformance suite.

    asyncio_tls_server.py CERT KEY    prints its port, serves until stdin closes

asyncio runs OpenSSL over memory BIOs: the event loop reads and writes the sockets itself and
SSL_read/SSL_write never touch them, and one thread serves every connection at once. The
response to /missing is a 404; every other path gets a small 200.
"""
import asyncio
import ssl
import sys


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].split()
            length, keep = 0, line[2] == b"HTTP/1.1"
            for h in head.split(b"\r\n")[1:]:
                name, _, value = h.partition(b":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    keep = value == b"keep-alive"
            if length:
                await reader.readexactly(length)
            status = b"404 Not Found" if line[1].endswith(b"/missing") else b"200 OK"
            body = b"asyncio says hi\n"
            # ab speaks HTTP/1.0 and keeps a connection only when told "keep-alive".
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n" +
                         (b"Connection: keep-alive\r\n" if keep else b"Connection: close\r\n") +
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
