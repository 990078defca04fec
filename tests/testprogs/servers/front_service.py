#!/usr/bin/python3
"""Front service for the span end-to-end tests: usage front_service.py BACK_PORT.

GET /api/orders/<id> (or /items/<id>: a middle hop): calls GET
http://127.0.0.1:BACK_PORT/items/<id> (http.client, a fresh
connection, on the thread serving the request; no trace headers are propagated), waits 10 ms,
answers 200 (or 502 when the back call did not return 200). GET /api/fail: calls back's /fail.
Binds 127.0.0.1 on an ephemeral port and prints "ready <port>"; exits when stdin closes.
"""
import http.client
import http.server
import sys
import threading
import time

BACK_PORT = int(sys.argv[1])


def call_back(path):
    conn = http.client.HTTPConnection("127.0.0.1", BACK_PORT, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


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
        # /items/<id> too, so a front can call another front (a middle hop) as its back.
        if path.startswith("/api/orders/") or path.startswith("/items/"):
            status = call_back("/items/" + path.rsplit("/", 1)[1])
        elif path == "/api/fail":
            status = call_back("/fail")
        else:
            self._reply(404, b"missing\n")
            return
        time.sleep(0.01)
        self._reply(200 if status == 200 else 502, b"front\n")

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
