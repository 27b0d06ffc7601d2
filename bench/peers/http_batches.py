"""A fixed HTTP workload for instruction counts: CONNS keep-alive
connections each send BATCHES writes of DEPTH pipelined `GET /hello`
requests and read every answer before the next write. The same work
every run, whatever the machine's speed (unlike wrk's duration), so that
callgrind's counts compare exactly across revisions.

usage: python3 http_batches.py PORT CONNS BATCHES DEPTH   (prints requests)
"""
import socket
import sys

port, conns, batches, depth = (int(a) for a in sys.argv[1:5])
request = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
for s in socks:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for _ in range(batches):
    for s in socks:
        s.sendall(request * depth)
    for s in socks:
        got = b""
        while got.count(b"HTTP/1.1 200") < depth:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("the server closed a connection")
            got += chunk
print(conns * batches * depth)
