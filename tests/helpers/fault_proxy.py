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
  flip-stream
         for HTTP (the S3 tier), whose answers can be far larger than one
         read: forward both ways as streams, following the requests and
         answers (Content-Length framing, 1xx, HEAD), and flip the middle
         byte of the body of every answer larger than 1 MiB (a large
         blob arrives wrong, every time; small answers pass). Chosen when
         the connection's first request arrives; the other modes are read
         per chunk and assume one reply per request (Redis).

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


FLIP_MIN = 1 << 20


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def stream(client, upstream, first):
    """flip-stream: two pumps over one HTTP/1.1 connection."""
    methods = []  # of the requests sent, oldest first

    def down():
        buf = b""
        body_left, flip_at, raw = 0, -1, False
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if raw:
                    client.sendall(data)
                    continue
                out = bytearray()
                buf += data
                while buf:
                    if body_left > 0:
                        chunk = bytearray(buf[:body_left])
                        if 0 <= flip_at < len(chunk):
                            chunk[flip_at] ^= 0x01
                            flip_at = -1
                        elif flip_at >= 0:
                            flip_at -= len(chunk)
                        body_left -= len(chunk)
                        buf = buf[len(chunk):]
                        out += chunk
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buf = buf[:end + 4], buf[end + 4:]
                    out += head
                    status = int(head.split(b" ", 2)[1])
                    if 100 <= status < 200:
                        continue
                    method = methods.pop(0) if methods else b"GET"
                    if method == b"HEAD" or status in (204, 304):
                        continue
                    if header(head, b"content-length") is None:
                        raw = True  # chunked or until close: pass as is
                        out += buf
                        buf = b""
                        break
                    body_left = int(header(head, b"content-length"))
                    flip_at = body_left // 2 if body_left > FLIP_MIN else -1
                client.sendall(bytes(out))
        except (OSError, ValueError, IndexError):
            pass
        finally:
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    pump = threading.Thread(target=down, daemon=True)
    pump.start()
    req, req_left = b"", 0
    data = first
    try:
        while data:
            with open(mode_file + ".log", "a") as log:
                log.write("flip-stream\n")
            rest = data
            while rest:  # note each request's method before it is sent
                if req_left > 0:
                    n = min(req_left, len(rest))
                    req_left -= n
                    rest = rest[n:]
                    continue
                req += rest
                rest = b""
                end = req.find(b"\r\n\r\n")
                if end < 0:
                    break
                head, rest, req = req[:end + 4], req[end + 4:], b""
                methods.append(head.split(b" ", 1)[0])
                req_left = int(header(head, b"content-length") or 0)
            upstream.sendall(data)
            data = client.recv(65536)
        upstream.shutdown(socket.SHUT_WR)
    except (OSError, ValueError):
        pass
    pump.join(30)


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    try:
        first = True
        while True:
            data = client.recv(65536)
            if not data:
                break
            m = mode()
            if first and m == "flip-stream":
                stream(client, upstream, data)
                break
            first = False
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
