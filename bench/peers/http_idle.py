#!/usr/bin/env python3
"""Idle keep-alive memory for bench/http.sh: opens N connections to
127.0.0.1:PORT, sends each one GET /hello and reads the answer, then holds
them all; prints the server's VmRSS growth per connection (KiB).

    python3 bench/peers/http_idle.py PORT PID [N] [HOLD_SECONDS]
"""
import resource
import selectors
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    before = rss_kib(pid)
    sel = selectors.DefaultSelector()
    req = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"
    socks = []
    pending = 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
        pending += 1
        # Keep the number in flight bounded: read answers as we go.
        while pending > 256 or (i == n - 1 and pending > 0):
            for key, _ in sel.select(timeout=10):
                buf = key.data
                chunk = key.fileobj.recv(4096)
                if not chunk:
                    raise SystemExit("the server closed an idle connection")
                buf += chunk
                if buf.endswith(b"Hello world!"):
                    sel.unregister(key.fileobj)
                    pending -= 1
    time.sleep(hold)
    after = rss_kib(pid)
    print(f"{(after - before) / n:.3f}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
