#!/usr/bin/python3
"""HTTP/1.1 framing edge cases for the conformance suite: Python's http.server (a child
process named OTEL_SERVICE_NAME + "-server") answered by Python's http.client and curl.

Each round, on keep-alive connections: a chunked response, a HEAD, a 304, a response delimited
by the server closing the connection (no Content-Length), a POST whose body is written in many
small pieces, a chunked POST, and curl's `Expect: 100-continue` upload. Prints "port N" and
"completed N" (exchanges the clients completed). With --tls CERT KEY, all of it over TLS
(Python's ssl module and curl: OpenSSL on the socket).
"""
import argparse
import http.client
import http.server
import os
import ssl
import subprocess
import sys

TLS = None  # (cert, key) with --tls


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connection(port):
    if TLS:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=client_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/notmodified":
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
        elif self.path == "/close":
            # No Content-Length: the body ends when the server closes the connection.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close " * 50)
            self.close_connection = True
        else:
            body = b"plain body"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "12345")
        self.end_headers()

    def do_POST(self):
        body = self._body()
        reply = b"got %d" % len(body)
        self.send_response(201)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if TLS:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*TLS)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    import threading
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


def round_trip(port):
    done = 0
    c = connection(port)
    for method, path in (("GET", "/chunked"), ("HEAD", "/x"), ("GET", "/notmodified"),
                         ("GET", "/plain")):
        c.request(method, path)
        r = c.getresponse()
        r.read()
        done += 1
    # A body written in 40 pieces of 25 bytes.
    c.putrequest("POST", "/pieces")
    c.putheader("Content-Length", "1000")
    c.endheaders()
    for _ in range(40):
        c.send(b"x" * 25)
    c.getresponse().read()
    done += 1
    # A chunked request body.
    c.request("POST", "/chunks", body=iter([b"a" * 100, b"b" * 200, b"c" * 3]),
              encode_chunked=True)
    c.getresponse().read()
    done += 1
    c.close()
    # Delimited by close.
    c = connection(port)
    c.request("GET", "/close")
    c.getresponse().read()
    done += 1
    c.close()
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    global TLS
    TLS = tuple(args.tls) if args.tls else None
    if args.serve:
        serve()
        return 0
    env = dict(os.environ,
               OTEL_SERVICE_NAME=os.environ.get("OTEL_SERVICE_NAME", "conf") + "-server")
    child = subprocess.Popen([sys.executable, __file__, "--serve"] +
                             (["--tls", *TLS] if TLS else []), env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(child.stdout.readline())
    completed = 0
    for _ in range(args.rounds):
        completed += round_trip(port)
    # curl: Expect: 100-continue on an upload (the server answers 100, then 201).
    body = os.path.join("/tmp", f"zt-conf-upload-{os.getpid()}")
    with open(body, "wb") as f:
        f.write(b"u" * 200000)
    scheme = "https" if TLS else "http"
    r = subprocess.run(["curl", "-s", "-k", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Expect: 100-continue", "--data-binary", f"@{body}",
                        f"{scheme}://127.0.0.1:{port}/upload"], capture_output=True, text=True)
    os.unlink(body)
    if r.stdout.strip() == "201":
        completed_curl = 1
    else:
        sys.exit(f"curl upload failed: {r.stdout} {r.stderr}")
    child.stdin.close()
    child.wait(10)
    print(f"port {port}")
    print(f"completed {completed}")
    print(f"curl {completed_curl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
