#!/usr/bin/python3
"""HTTP/1.1 test server for the end-to-end tests (keep-alive capable).

/ok 200, /missing 404, /fail 500, /slow 200 after 100 ms, /big 200 with a 2 MiB body written
64 KiB at a time over ~0.6 s (a download the collector should not copy); anything else 404.
Binds 127.0.0.1 on an ephemeral port and prints "ready <port>"; exits when stdin closes.
With --tls CERT KEY it speaks HTTPS through Python's ssl module (the system's libssl).
"""
import http.server
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status, body=b"", delay=0.0):
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/ok" or path.startswith("/users/"):
            self._reply(200, b"ok\n")
        elif path == "/fail":
            self._reply(500, b"boom\n")
        elif path == "/slow":
            self._reply(200, b"slow\n", delay=0.1)
        elif path == "/big":
            chunk, chunks = b"z" * 65536, 32
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(chunk) * chunks))
            self.end_headers()
            for _ in range(chunks):
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.02)
        else:
            self._reply(404, b"missing\n")

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._reply(201, b"created\n")

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
