#!/usr/bin/python3
"""Back service for the span end-to-end tests (HTTP/1.1, keep-alive capable).

GET /items/<id>: 200 after 20 ms; GET /fail: 500; anything else 404.
Binds 127.0.0.1 on an ephemeral port and prints "ready <port>"; exits when stdin closes.
"""
import http.server
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/items/"):
            time.sleep(0.02)
            self._reply(200, b"item\n")
        elif path == "/fail":
            self._reply(500, b"boom\n")
        else:
            self._reply(404, b"missing\n")

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
