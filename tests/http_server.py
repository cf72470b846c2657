#!/usr/bin/env python3
"""A small HTTP/1.1 origin server for arca's URL tests (Python 3 stdlib only).

    python3 tests/http_server.py --root DIR --port-file FILE --log FILE
                                 [--lifetime SECONDS]

Serves the files of DIR on 127.0.0.1, on a port the kernel picks (port 0);
the port is written to --port-file (atomically: a temp file renamed into
place) once the socket listens, so a test waits for that file and never
races another test for a fixed port.

Every response to a file carries the validators of RFC 9110 section 8.8:
    ETag: "<sha256 of the content>"      (a strong entity tag)
    Last-Modified: <the file's mtime>    (an HTTP-date)
and conditional GETs are answered as RFC 9110 section 13.1 says: a matching
If-None-Match gives 304; without If-None-Match, an If-Modified-Since not
older than the mtime gives 304 (section 13.2.2: If-None-Match wins).

Special paths:
    /cut/P         P's headers with its full Content-Length, then half of
                   the body, then the connection is closed (a dropped
                   transfer)
    /status/NNN    an empty response with status NNN
    /redirect/P    302 to /P
    /lm-only/P     P with Last-Modified and no ETag
    /slow/P        P after a 3 s pause (for timeouts)

One line per request is appended to --log, tab-separated:
    METHOD  PATH  STATUS  IF-NONE-MATCH  IF-MODIFIED-SINCE
with "-" for an absent header, so tests count requests with wc -l / grep.

The server exits by itself when the process that started it is gone, and
after --lifetime seconds (default 300) in any case, so that a test that dies
without killing it leaves nothing running.
"""

import argparse
import email.utils
import hashlib
import http.server
import os
import socket
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arca-test-server/1"

    def log_message(self, fmt, *args):  # quiet: the log file is the record
        pass

    def record(self, status):
        inm = self.headers.get("If-None-Match") or "-"
        ims = self.headers.get("If-Modified-Since") or "-"
        line = "\t".join([self.command, self.path, str(status), inm, ims])
        with self.server.log_lock:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def send_empty(self, status, extra=None):
        self.record(status)
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        # 204 and 304 have no content and, for 304, a Content-Length would
        # have to be the 200's (RFC 9110 sections 8.6, 15.4.5).
        if status not in (204, 304):
            self.send_header("Content-Length", "0")
        self.end_headers()

    def resolve(self, rel):
        root = os.path.realpath(self.server.root)
        path = os.path.realpath(os.path.join(root, rel.lstrip("/")))
        if path != root and not path.startswith(root + os.sep):
            return None
        return path if os.path.isfile(path) else None

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            if etag is None:
                return False
            tags = [t.strip() for t in inm.split(",")]
            # Weak comparison (RFC 9110 section 8.8.3.2) for If-None-Match.
            bare = etag[2:] if etag.startswith("W/") else etag
            return "*" in tags or any(
                (t[2:] if t.startswith("W/") else t) == bare for t in tags)
        ims = self.headers.get("If-Modified-Since")
        if ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError):
                return False
            return int(mtime) <= since
        return False

    def do_HEAD(self):
        self.handle_get(head=True)

    def do_GET(self):
        self.handle_get(head=False)

    def handle_get(self, head):
        path = self.path.split("?", 1)[0]
        cut = slow = lm_only = False
        if path.startswith("/status/"):
            try:
                status = int(path[len("/status/"):])
            except ValueError:
                status = 400
            self.send_empty(status if 200 <= status <= 599 else 400)
            return
        if path.startswith("/redirect/"):
            self.send_empty(302, {"Location": path[len("/redirect"):]})
            return
        if path.startswith("/cut/"):
            cut, path = True, path[len("/cut"):]
        elif path.startswith("/slow/"):
            slow, path = True, path[len("/slow"):]
        elif path.startswith("/lm-only/"):
            lm_only, path = True, path[len("/lm-only"):]
        file_path = self.resolve(path)
        if file_path is None:
            self.send_empty(404)
            return
        with open(file_path, "rb") as f:
            body = f.read()
        mtime = os.stat(file_path).st_mtime
        etag = None if lm_only else '"%s"' % hashlib.sha256(body).hexdigest()
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        if slow:
            time.sleep(3)
        validators = {"Last-Modified": last_modified}
        if etag is not None:
            validators["ETag"] = etag
        if not cut and self.not_modified(etag, mtime):
            self.send_empty(304, validators)
            return
        self.record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in validators.items():
            self.send_header(name, value)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--lifetime", type=float, default=300.0)
    args = ap.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.root = args.root
    server.log_path = args.log
    server.log_lock = threading.Lock()
    open(args.log, "a", encoding="utf-8").close()

    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    # Nor outlive the test that started it, even one that crashed.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()

    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
