# Opens network connections (internet, the grader's loopback, DNS): there is no network in the jail.
# base: correct
# expect: score == 8
# expect: no LEAK
import socket

for host, port in [("1.1.1.1", 53), ("127.0.0.1", 22), ("127.0.0.1", 8888), ("pypi.org", 443)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("LEAK connected", host, port)
    except OSError as exc:
        print("no connection", host, port, type(exc).__name__)
print("interfaces:", socket.if_nameindex())
