"""arca: a content-addressed cache for idempotent pipelines (Python binding).

A thin layer over libarca through cffi, as pygit2 is over libgit2: the C
library does the work, this module turns its handles into classes and its
error codes into exceptions. First part of issue 12: the store (put, get,
stats, verify); stages, pipelines and asyncio follow.

Threads: a Store holds one C handle and a lock; each call takes the lock,
and cffi releases the GIL around the C call, so other Python threads run
while a blob is hashed or written.
"""
import json
import os
import threading
from typing import Optional, Tuple

from ._arca import ffi, lib

__all__ = ["Store", "Error", "NotFound", "Exists", "Corrupt", "Busy",
           "Timeout", "Full", "IOError_", "Invalid", "NoMemory",
           "Unavailable", "Fatal", "PermissionDenied", "NotStored"]


class Error(Exception):
    """An arca error: .code is the ARCA_E* code (negative int), the
    message is arca_errmsg()'s one line."""

    code = 0

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(Error):
    """ARCA_ENOTFOUND: no such blob, action or entry (a miss)."""
    code = -1


class Exists(Error):
    """ARCA_EEXISTS."""
    code = -2


class Corrupt(Error):
    """ARCA_ECORRUPT: stored bytes did not match their digest (the blob
    was quarantined)."""
    code = -3


class Busy(Error):
    """ARCA_EBUSY."""
    code = -4


class Timeout(Error):
    """ARCA_ETIMEOUT: a bounded wait ran out."""
    code = -5


class Full(Error):
    """ARCA_EFULL: no space left on the device, or over the limit."""
    code = -6


class IOError_(Error):
    """ARCA_EIO: an I/O or database error."""
    code = -7


class Invalid(Error):
    """ARCA_EINVAL: an invalid argument or malformed input."""
    code = -8


class NoMemory(Error):
    """ARCA_ENOMEM."""
    code = -9


class Unavailable(Error):
    """ARCA_EUNAVAILABLE: a tier cannot be reached."""
    code = -10


class Fatal(Error):
    """ARCA_EFATAL: the handle refuses further writes; reopen it."""
    code = -11


class PermissionDenied(Error):
    """ARCA_EPERM."""
    code = -12


class NotStored(Error):
    """ARCA_ENOTSTORED: a tier declined to store something."""
    code = -13


_BY_CODE = {cls.code: cls for cls in (
    NotFound, Exists, Corrupt, Busy, Timeout, Full, IOError_, Invalid,
    NoMemory, Unavailable, Fatal, PermissionDenied, NotStored)}


def _check(rc: int) -> int:
    if rc >= 0:
        return rc
    msg = ffi.string(lib.arca_errmsg()).decode("utf-8", "replace")
    raise _BY_CODE.get(rc, Error)(msg, rc)


def _digest(hexdigest: str):
    d = ffi.new("arca_digest *")
    _check(lib.arca_digest_from_hex(d, hexdigest.encode("ascii")))
    return d


def _hex(d) -> str:
    buf = ffi.new("char[65]")
    lib.arca_digest_to_hex(buf, d)
    return ffi.string(buf).decode("ascii")


class Store:
    """An arca store (arca_store_open()).

    path: the store directory; None means arca's default ($ARCA_DIR, else
    ${XDG_CACHE_HOME:-~/.cache}/arca). Policy (size limit, tiers, ...)
    comes from the environment and config.yaml, as for the CLI.
    Raises an arca.Error subclass when the store cannot be opened.
    """

    def __init__(self, path: Optional[str] = None):
        self._lock = threading.Lock()
        out = ffi.new("arca_store **")
        _check(lib.arca_store_open(
            out, os.fsencode(path) if path is not None else ffi.NULL,
            ffi.NULL))
        self._h = out[0]

    def close(self) -> None:
        """Close the handle (pending bookkeeping is written). Idempotent."""
        with self._lock:
            if self._h is not None:
                lib.arca_store_close(self._h)
                self._h = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if self._h is None:
            raise Invalid("arca.Store: closed", -8)
        return self._h

    def put(self, data: bytes) -> str:
        """Store bytes; returns their SHA-256 digest, 64 hex characters."""
        d = ffi.new("arca_digest *")
        with self._lock:
            _check(lib.arca_blob_put(d, self._handle(), data, len(data)))
        return _hex(d)

    def put_file(self, path: str) -> Tuple[str, int]:
        """Store a file's content; returns (digest, size in bytes)."""
        d = ffi.new("arca_digest *")
        size = ffi.new("uint64_t *")
        with self._lock:
            _check(lib.arca_blob_put_file(d, size, self._handle(),
                                          os.fsencode(path)))
        return _hex(d), int(size[0])

    def get(self, digest: str) -> bytes:
        """The blob's bytes, verified against digest. Raises NotFound,
        Corrupt (the blob is quarantined), Invalid (not a digest)."""
        d = _digest(digest)
        buf = ffi.new("arca_buf *")
        with self._lock:
            _check(lib.arca_blob_get(buf, self._handle(), d))
        try:
            return bytes(ffi.buffer(buf.data, buf.size))
        finally:
            lib.arca_buf_free(buf)

    def get_file(self, digest: str, path: str, mode: int = 0o644) -> None:
        """Write the blob, verified, to path atomically (mode: its
        permission bits)."""
        d = _digest(digest)
        with self._lock:
            _check(lib.arca_blob_get_file(self._handle(), d,
                                          os.fsencode(path), mode))

    def stats(self, days: int = 0) -> dict:
        """The store's statistics, as `arca stats --json` prints them."""
        buf = ffi.new("arca_buf *")
        with self._lock:
            _check(lib.arca_stats_json(buf, self._handle(), days))
        try:
            return json.loads(bytes(ffi.buffer(buf.data, buf.size)))
        finally:
            lib.arca_buf_free(buf)

    def verify(self) -> Tuple[int, int]:
        """Re-hash every blob; returns (checked, corrupt). Corrupt blobs
        are quarantined and dropped."""
        checked = ffi.new("uint64_t *")
        corrupt = ffi.new("uint64_t *")
        with self._lock:
            _check(lib.arca_store_verify(checked, corrupt, self._handle(),
                                         ffi.NULL, ffi.NULL))
        return int(checked[0]), int(corrupt[0])
