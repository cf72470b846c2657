#!/usr/bin/python3
"""A fault-injecting TCP proxy for the remote-tier tests (test code).

    fault_proxy.py LISTEN_PORT_FILE TARGET_PORT MODE_FILE

Listens on a free 127.0.0.1 port (written to LISTEN_PORT_FILE once it
listens) and forwards each connection to 127.0.0.1:TARGET_PORT. The mode
is read from MODE_FILE for every chunk, so a test switches it between
runs:

  pass   forward both ways unchanged
  error  answer every request that is not the connection's AUTH, SELECT
         or PING with a RESP error reply (-ERR injected fault), without
         forwarding it
  cut    forward the request, send back only half of the reply, close
  flip   forward, but flip one byte in the middle of every reply longer
         than 16 bytes (a blob's or manifest's bytes arrive wrong)

Every request that reaches the proxy outside the connection's handshake
appends one line "MODE" to MODE_FILE.log, so a test can count the calls
that were made (and those a circuit breaker skipped).
"""
import socket
import sys
import threading

port_file, target_port, mode_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def mode():
    try:
        with open(mode_file) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def handshake(data):
    return any(w in data.upper() for w in (b"PING", b"SELECT", b"AUTH"))


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            m = mode()
            if not handshake(data):
                with open(mode_file + ".log", "a") as log:
                    log.write(m + "\n")
            if m == "error" and not handshake(data):
                n = max(1, data.count(b"\r\n*") + (1 if data.startswith(b"*") else 0))
                client.sendall(b"-ERR injected fault\r\n" * n)
                continue
            upstream.sendall(data)
            upstream.settimeout(2.0)
            reply = upstream.recv(1 << 20)
            upstream.settimeout(None)
            if not reply:
                break
            if m == "cut" and not handshake(data):
                client.sendall(reply[: len(reply) // 2])
                break
            if m == "flip" and not handshake(data) and len(reply) > 16:
                b = bytearray(reply)
                b[len(b) // 2 + 4] ^= 0x01
                reply = bytes(b)
            client.sendall(reply)
    except OSError:
        pass
    finally:
        client.close()
        upstream.close()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
