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
         blob arrives wrong, every time; small answers pass).
  flip-stream:N
         the same with a threshold of N bytes: the middle byte of every
         answer's body larger than N bytes is flipped (flip-stream:16
         flips a small blob's or manifest's bytes too)
  http-500
         for HTTP: read every request (its Content-Length body too, unless
         it waits for 100-continue) and answer it with 500 Internal Server
         Error and an S3 XML error body (<Error><Code>InternalError</Code>
         ...), Content-Length set, without forwarding it
  http-503
         the same with 503 Slow Down (<Code>SlowDown</Code>)
  http-stall
         for HTTP: accept and read the requests, never answer; hold the
         socket until the client closes it (the client's timeout decides)
  http-500:data, http-503:data, http-stall:data
         the same for every request but a HeadBucket (HEAD /BUCKET, the
         S3 tier's check at open), which is forwarded and answered: the
         fault reaches the tier's lookups and writes, not its open
  http-cut
         for HTTP: forward like flip-stream, but of the first answer with
         a body send the head and only half of the body, then close the
         connection (the Content-Length promised more; the client's next
         connection, in the same mode, is cut in the same way)
  http-cut:N
         the same for the first answer whose body is larger than N bytes
         (smaller ones pass: http-cut:4096 lets a small action entry
         through and cuts the blob it names)

The HTTP modes (flip-stream, flip-stream:N, http-*) are chosen when the
connection's first request arrives and hold for the whole connection; the
other modes are read per chunk and assume one reply per request (Redis).

Every request that reaches the proxy outside the connection's handshake
appends one line "MODE" to MODE_FILE.log, so a test can count the calls
that were made (and those a circuit breaker skipped); for flip-stream and
http-cut one line per chunk of requests read (a request, or several
pipelined); for http-500, http-503 and http-stall one line "MODE METHOD"
per request faulted (a write-through is a PUT).
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


def stream(client, upstream, first, name, min_body=FLIP_MIN, cut=False):
    """flip-stream and http-cut: two pumps over one HTTP/1.1 connection.

    Flips the middle byte of every answer's body longer than min_body
    bytes or, with cut, sends only the first half of the first such body
    and closes both connections.
    """
    methods = []  # of the requests sent, oldest first

    def down():
        buf = b""
        body_left, flip_at, raw, cut_left, cutting = 0, -1, False, 0, False
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
                    if body_left > 0 and cutting:
                        out += buf[:cut_left]
                        cut_left -= len(buf[:cut_left])
                        if cut_left <= 0:
                            client.sendall(bytes(out))
                            return
                        buf = b""
                        continue
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
                    big = body_left > min_body
                    flip_at = body_left // 2 if big and not cut else -1
                    cutting, cut_left = cut and big, body_left // 2
                client.sendall(bytes(out))
        except (OSError, ValueError, IndexError):
            pass
        finally:
            try:
                client.shutdown(socket.SHUT_RDWR if cut else socket.SHUT_WR)
            except OSError:
                pass
            if cut:
                try:
                    upstream.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    pump = threading.Thread(target=down, daemon=True)
    pump.start()
    req, req_left = b"", 0
    data = first
    try:
        while data:
            with open(mode_file + ".log", "a") as log:
                log.write(name + "\n")
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


ANSWERS = {
    "http-500": (b"500 Internal Server Error", b"InternalError",
                 b"We encountered an internal error. Please try again."),
    "http-503": (b"503 Slow Down", b"SlowDown",
                 b"Please reduce your request rate."),
}


def head_bucket(head):
    """Whether a request is a HeadBucket: HEAD of the path /BUCKET."""
    method, _, rest = head.partition(b" ")
    path = rest.split(b" ", 1)[0].split(b"?", 1)[0].strip(b"/")
    return method == b"HEAD" and path and b"/" not in path


def answer_all(client, upstream, first, name):
    """http-500, http-503, http-stall[:data]: answer each request here.

    With :data, a HeadBucket is forwarded and its answer (a head, no body)
    sent back; every other request gets the fault, never forwarded.
    """
    fault, _, data_only = name.partition(":")
    buf = first
    while True:
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            data = client.recv(65536)
            if not data:
                return
            buf += data
            end = buf.find(b"\r\n\r\n")
        head, buf = buf[:end + 4], buf[end + 4:]
        if data_only and head_bucket(head):
            upstream.sendall(head)
            got = b""
            while b"\r\n\r\n" not in got:
                data = upstream.recv(65536)
                if not data:
                    return
                got += data
            client.sendall(got)
            continue
        with open(mode_file + ".log", "a") as log:
            log.write(name + " " + head.split(b" ", 1)[0].decode() + "\n")
        if fault == "http-stall":
            while client.recv(65536):
                pass
            return
        # A client waiting for 100-continue sends no body: answer at once
        # and close, as S3 does (RFC 9110 10.1.1).
        expect = (header(head, b"expect") or b"").lower() == b"100-continue"
        left = 0 if expect else int(header(head, b"content-length") or 0)
        while len(buf) < left:
            data = client.recv(65536)
            if not data:
                return
            buf += data
        buf = buf[left:]
        status, code, message = ANSWERS[fault]
        body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
                code + b"</Code><Message>" + message +
                b"</Message><RequestId>fault-proxy</RequestId></Error>")
        reply = (b"HTTP/1.1 " + status + b"\r\n"
                 b"Content-Type: application/xml\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n" +
                 (b"Connection: close\r\n" if expect else b"") + b"\r\n")
        if head.split(b" ", 1)[0] != b"HEAD":
            reply += body
        client.sendall(reply)
        if expect:
            return


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
            if first and m.startswith("flip-stream"):
                _, _, n = m.partition(":")
                stream(client, upstream, data, m,
                       min_body=int(n) if n else FLIP_MIN)
                break
            if first and m.startswith("http-cut"):
                _, _, n = m.partition(":")
                stream(client, upstream, data, m, min_body=int(n or 0),
                       cut=True)
                break
            if first and m.partition(":")[0] in ("http-500", "http-503",
                                                   "http-stall"):
                answer_all(client, upstream, data, m)
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
