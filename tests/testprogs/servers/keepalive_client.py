#!/usr/bin/python3
"""Opens one keep-alive HTTP/1.1 connection, then waits: for each line "go N" on stdin it sends N
GET /ok requests over that same connection and prints "done". For tests of connections that
already existed when zerotrace started.

usage: keepalive_client.py PORT
"""
import http.client
import sys


def main():
    conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
    conn.request("GET", "/ok")  # establishes the connection before the collector starts
    conn.getresponse().read()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line.split()[1])
        for _ in range(n):
            conn.request("GET", "/ok")
            conn.getresponse().read()
        print("done", flush=True)


if __name__ == "__main__":
    main()
