#!/usr/bin/python3
"""nginx as a reverse proxy for the span-link suite: /api/orders/<id> is proxied to
/items/<id> on the back (keep-alive upstream, one worker: an event loop).

    nginx_proxy.py BACK_PORT    prints "ready <port>", runs nginx until stdin closes
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

CONF = """worker_processes 1;
env OTEL_SERVICE_NAME;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream back {{ server 127.0.0.1:{back}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location /api/orders/ {{
      proxy_pass http://back/items/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def main():
    back = int(sys.argv[1])
    d = tempfile.mkdtemp(prefix="zt-nginx-proxy-")
    os.chmod(d, 0o755)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(CONF.format(dir=d, back=back, port=port))
    proc = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf"], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print("ready", port, flush=True)
    sys.stdin.read()
    proc.terminate()
    proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
