#!/usr/bin/python3
"""Back service for the propagation suite: records what each request carried on the wire.

    recording_back.py LOG [DELAY_MS]    prints "ready <port>", serves until stdin closes

DELAY_MS (default 20, as tests/testprogs/servers/back_service.py) is waited before each answer.
With 0, the front's server requests of propagation.py's Python case go missing 3-9 of 100 in
about 4 runs of 10 on this 2-vCPU VM, propagation on or off (zerotrace_socket_events_disordered
_total{kind="late"} moves; the loss is not always counted): an open #18 finding, not this
suite's subject.

Every request (any method, any path) appends one JSON line to LOG: its path, every
`traceparent` header value it carried (in order), the Content-Length it declared, the body's
length and SHA-256 (Content-Length or chunked), and is answered 200 "back". This is the
independent oracle for what the sender's kernel inserted: nothing of zerotrace reads it.
"""
import hashlib
import http.server
import json
import sys
import threading
import time

LOCK = threading.Lock()
DELAY_S = (float(sys.argv[2]) if len(sys.argv) > 2 else 20.0) / 1000.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def _any(self):
        body = self._body()
        time.sleep(DELAY_S)
        rec = {"path": self.path, "method": self.command,
               "traceparent": self.headers.get_all("traceparent") or [],
               "content_length": self.headers.get("Content-Length"),
               "body_len": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
               "header_bytes": sum(len(k) + len(v) + 4 for k, v in self.headers.items())}
        with LOCK:
            with open(sys.argv[1], "a") as f:
                f.write(json.dumps(rec) + "\n")
        reply = b"back\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

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
