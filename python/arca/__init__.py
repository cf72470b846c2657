"""arca: a content-addressed cache for idempotent pipelines (Python binding).

A thin layer over libarca through cffi (API mode), as pygit2 is over
libgit2: the C library does the work (hashing, the SQLite index, leases,
eviction, tiers); this module turns its handles into classes and its
error codes into exceptions. The reference is docs/python.md; the C
functions each method calls are named in its docstring, and their
documentation in include/arca/arca.h and include/arca/stage.h is the
authority on behaviour.

Threads. A Store opens one C handle (arca_store) per thread that uses it,
lazily, closes a thread's handle when that thread ends, and the rest in
close(): libarca handles are not shared between threads. cffi releases the GIL around every C call, so other
Python threads run while a blob is hashed, a command runs or a lease is
waited for. Single-flight (Stage.get_or_compute) works between threads of
one process as between processes, because each handle takes its own
flock(2) lease. After fork() the child opens handles of its own (the
parent's are left alone). close() must not race with calls in other
threads.

Units: sizes in bytes, durations in milliseconds unless a name says
seconds (ttl, max_age: seconds), times in seconds since the epoch.
"""
import asyncio
import functools
import hashlib
import inspect
import json
import os
import queue
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import (Any, Callable, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

from ._arca import ffi, lib

__all__ = ["Store", "Stage", "Pipeline", "Input", "Result", "Output",
           "RunResult", "Report", "StageReport", "Event", "DEVNULL",
           "Error", "NotFound", "Exists", "Corrupt", "Busy", "Timeout",
           "Full", "IOError_", "Invalid", "NoMemory", "Unavailable",
           "Fatal", "PermissionDenied", "NotStored"]

#: Pass as stdout= or stderr= to discard a stream (the spec's fd -1).
DEVNULL = -1

PathLike = Union[str, bytes, "os.PathLike[str]"]


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


def _raise(rc: int):
    msg = ffi.string(lib.arca_errmsg()).decode("utf-8", "replace")
    raise _BY_CODE.get(rc, Error)(msg, rc)


def _check(rc: int) -> int:
    if rc < 0:
        _raise(rc)
    return rc


def _digest(hexdigest: str, what: str = "digest"):
    if not isinstance(hexdigest, str):
        raise TypeError(f"{what}: expected a str of 64 hex characters, "
                        f"not {type(hexdigest).__name__}")
    d = ffi.new("arca_digest *")
    _check(lib.arca_digest_from_hex(d, hexdigest.encode("ascii",
                                                        "replace")))
    return d


def _hex(d) -> str:
    buf = ffi.new("char[65]")
    lib.arca_digest_to_hex(buf, d)
    return ffi.string(buf).decode("ascii")


def _str(p) -> str:
    return ffi.string(p).decode("utf-8", "surrogateescape") \
        if p != ffi.NULL else None


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)


def _path(value, what: str) -> bytes:
    try:
        return os.fsencode(value)
    except TypeError:
        raise TypeError(f"{what}: expected a path (str, bytes or "
                        f"os.PathLike), not {type(value).__name__}") \
            from None


def _text(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a str, not "
                        f"{type(value).__name__}")
    return value.encode("utf-8", "surrogateescape")


def _seconds(value, what: str) -> int:
    """ttl=/max_age=: seconds (int or float) or a duration string ("7d",
    as arca_parse_duration_ms() reads it). None: 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected seconds or a duration string")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{what}: {value}: negative")
        return int(value)
    ms = ffi.new("uint64_t *")
    _check(lib.arca_parse_duration_ms(ms, _text(value, what)))
    return int(ms[0]) // 1000


def _fd(stream, what: str, default: int) -> int:
    if stream is None:
        return default
    if isinstance(stream, bool):
        raise TypeError(f"{what}: expected a file, an fd or arca.DEVNULL")
    if isinstance(stream, int):
        return stream
    try:
        return stream.fileno()
    except (AttributeError, OSError):
        raise TypeError(f"{what}: expected a file with fileno(), an fd or "
                        f"arca.DEVNULL, not {type(stream).__name__}") \
            from None


class _Keep:
    """Owns the cdata a C struct borrows for the duration of a call."""

    def __init__(self):
        self.refs = []

    def s(self, value: bytes):
        c = ffi.new("char[]", value)
        self.refs.append(c)
        return c

    def strv(self, values: Sequence[bytes], nul: bool = False):
        cs = [self.s(v) for v in values]
        arr = ffi.new("char *[]", cs + ([ffi.NULL] if nul else []))
        self.refs.append(arr)
        return arr if (cs or nul) else ffi.NULL


# ---------------------------------------------------------------------------
# Results

@dataclass(frozen=True)
class Output:
    """An output of a stored entry: path as declared, its content digest
    (64 hex), size in bytes, permission bits."""
    path: str
    digest: str
    size: int
    mode: int


_VALUE_JSON = "arca:value.json"
_VALUE_BYTES = "arca:value.bin"


@dataclass
class Result:
    """A stored entry (the manifest of a stage result).

    key: the action key (64 hex); stage: its stage name; exit_status: the
    recorded status; duration_ms: the recorded run time; created: seconds
    since the epoch; outputs: the declared outputs (plus, for entries made
    by get_or_compute() or cached(), the value under "arca:value.json" or
    "arca:value.bin"); hit: True when it came from the cache.
    .stdout and .stderr read the recorded streams (verified bytes).
    """
    key: str
    stage: str
    exit_status: int
    duration_ms: int
    created: int
    outputs: List[Output]
    stdout_digest: str
    stderr_digest: str
    hit: bool = False
    _store: Any = field(default=None, repr=False, compare=False)

    @property
    def stdout(self) -> bytes:
        return self._store.get(self.stdout_digest)

    @property
    def stderr(self) -> bytes:
        return self._store.get(self.stderr_digest)

    def _value_output(self) -> Optional[Output]:
        for o in self.outputs:
            if o.path in (_VALUE_JSON, _VALUE_BYTES):
                return o
        return None

    def value(self) -> Any:
        """The value get_or_compute()/cached() stored (JSON decoded, or
        bytes), or None when the entry holds none."""
        o = self._value_output()
        if o is None:
            return None
        data = self._store.get(o.digest)
        return data if o.path == _VALUE_BYTES else json.loads(data)


def _result(m, store, hit: bool) -> Result:
    outs = [Output(_str(m.outputs[i].path), _hex(ffi.addressof(
        m.outputs[i], "digest")), int(m.outputs[i].size),
        int(m.outputs[i].mode)) for i in range(m.n_outputs)]
    return Result(_hex(ffi.addressof(m, "key")), _str(m.stage),
                  int(m.exit_status), int(m.duration_ms), int(m.created),
                  outs, _hex(ffi.addressof(m, "stdout_digest")),
                  _hex(ffi.addressof(m, "stderr_digest")), hit, store)


_OUTCOMES = {0: "error", 1: "hit", 2: "stored", 3: "ran", 4: "failed",
             5: "output_missing", 6: "cache_write_failed"}


@dataclass
class RunResult:
    """What Stage.run() did (arca_stage_result).

    outcome: "hit", "stored" (ran, exited 0, stored), "ran" (no_cache),
    "failed" (exited non-zero or killed), "output_missing" or
    "cache_write_failed"; ok: the declared outputs are in place
    (arca_stage_result_ok()); exit_status: the command's (128+N when
    killed by signal N; a hit's recorded one); duration_ms: a hit's
    recorded run time, else this run's wall time; key: 64 hex; stdout and
    stderr: the streams' bytes with capture_output=True, else None.
    """
    outcome: str
    ok: bool
    exit_status: int
    duration_ms: int
    key: str
    stdout: Optional[bytes] = None
    stderr: Optional[bytes] = None

    @property
    def hit(self) -> bool:
        return self.outcome == "hit"


class Input:
    """An argument of a @Store.cached function that is a file: its
    content (not its path) enters the key. path: str or os.PathLike."""

    __slots__ = ("path",)

    def __init__(self, path: PathLike):
        _path(path, "arca.Input")
        self.path = path

    def __fspath__(self):
        return os.fspath(self.path)

    def __repr__(self):
        return f"arca.Input({self.path!r})"


# ---------------------------------------------------------------------------
# Store

class _ThreadHandle:
    """A thread's C handle, in the Store's threading.local: when the
    thread ends its local is dropped and the handle closed (unless
    close() or a fork took it first), so that short-lived threads do not
    leave one open handle each."""

    def __init__(self, h, handles, lock):
        self.h, self.handles, self.lock = h, handles, lock
        self.pid = os.getpid()

    def __del__(self):
        try:
            if os.getpid() != self.pid:
                return  # a forked child's copy: the parent's handle
            with self.lock:
                if self.h not in self.handles:
                    return  # closed by Store.close()
                self.handles.remove(self.h)
            lib.arca_store_close(self.h)
        except Exception:
            pass


class _Threads:
    """The threads aget_or_compute() blocks in: an idle one is reused,
    else a new one starts; never a fixed number, since a thread holding a
    lease may wait for a coroutine that itself needs one (a nested
    cached call). Idle threads end after IDLE_S seconds (their C handles
    close with them). Reset in a forked child (the threads are not
    there)."""

    IDLE_S = 30.0

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: List[queue.SimpleQueue] = []
        self._pid = os.getpid()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._idle = os.getpid(), []
            q = self._idle.pop() if self._idle else None
        if q is None:
            q = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(q,), daemon=True,
                             name="arca-aget_or_compute").start()
        q.put(job)

    def _work(self, q: queue.SimpleQueue) -> None:
        while True:
            try:
                job = q.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if q in self._idle:
                        self._idle.remove(q)
                        return
                continue  # taken by submit() just now: a job is coming
            job()
            del job
            with self._lock:
                self._idle.append(q)


class Store:
    """An arca store (arca_store_open()).

    path: the store directory; None means arca's default ($ARCA_DIR, else
    ${XDG_CACHE_HOME:-~/.cache}/arca). max_size: the size limit in bytes
    (int) or a size string ("10G", as arca_parse_size() reads it); None:
    from ARCA_MAX_SIZE, config.yaml, else 10 GiB. tiers: the remote tier
    URLs to use, in order, instead of ARCA_TIERS's or config.yaml's ([]:
    the local store alone); None: those. Other policy comes from the
    environment and config.yaml, as for the CLI (docs/cli.md,
    "Configuration").

    Raises an arca.Error subclass when the store cannot be opened
    (Invalid for a bad setting, naming the file and line or variable;
    PermissionDenied; IOError_), TypeError for arguments of the wrong
    type. One C handle per thread (see the module docstring).
    """

    def __init__(self, path: Optional[PathLike] = None, *,
                 max_size: Union[int, str, None] = None,
                 tiers: Optional[Sequence[str]] = None):
        # reentrant: a _ThreadHandle.__del__ may run while it is held
        self._lock = threading.RLock()
        self._keep = _Keep()
        self._dir = _path(path, "path") if path is not None else None
        opts = ffi.new("arca_options *")
        lib._arca_py_options_init(opts)
        if max_size is not None:
            if isinstance(max_size, bool):
                raise TypeError("max_size: expected bytes or a size string")
            if isinstance(max_size, int):
                if max_size < 0:
                    raise ValueError(f"max_size: {max_size}: negative")
                opts.max_size = max_size
            else:
                n = ffi.new("uint64_t *")
                _check(lib.arca_parse_size(n, _text(max_size, "max_size")))
                opts.max_size = n[0]
            opts.given |= lib.ARCA_OPT_MAX_SIZE
        if tiers is not None:
            if isinstance(tiers, (str, bytes)):
                raise TypeError("tiers: expected a list of URLs, not one "
                                "string")
            urls = [_text(t, "tiers") for t in tiers]
            opts.tiers = self._keep.strv(urls)
            opts.n_tiers = len(urls)
            opts.given |= lib.ARCA_OPT_TIERS
        self._opts = opts
        self._local = threading.local()
        self._handles: List[Any] = []
        self._pid = os.getpid()
        self._closed = False
        self._threads = _Threads()
        self._py_tool: Optional[bytes] = None
        self._handle()  # open now, so that a bad store raises here

    # Handles ---------------------------------------------------------

    def _handle(self):
        if self._closed:
            raise Invalid("arca.Store: closed", -8)
        if os.getpid() != self._pid:  # a forked child: open its own
            with self._lock:
                if os.getpid() != self._pid:
                    self._pid = os.getpid()
                    self._handles = []
                    self._local = threading.local()
        t = getattr(self._local, "t", None)
        if t is None:
            out = ffi.new("arca_store **")
            _check(lib.arca_store_open(
                out, self._dir if self._dir is not None else ffi.NULL,
                self._opts))
            t = _ThreadHandle(out[0], self._handles, self._lock)
            with self._lock:
                self._handles.append(t.h)
            self._local.t = t
        return t.h

    def _python_tool(self) -> bytes:
        """The tool version of a stage without a command: "python:" + the
        interpreter's digest, taken once per Store."""
        if self._py_tool is None:
            self._py_tool = ("python:" + self.digest_file(
                sys.executable)).encode()
        return self._py_tool

    @property
    def path(self) -> str:
        """The store directory (arca_store_path())."""
        return _str(lib.arca_store_path(self._handle()))

    def close(self) -> None:
        """Close every handle (pending bookkeeping is written).
        Idempotent. No other thread may be using the store."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # emptied in place: the threads' _ThreadHandles share the list
            handles = list(self._handles)
            self._handles.clear()
            mine = os.getpid() == self._pid
        if mine:
            for h in handles:
                lib.arca_store_close(h)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # Blobs -----------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Store bytes (arca_blob_put()); returns their SHA-256 digest, 64
        hex characters. Raises TypeError (data not bytes-like), Full,
        IOError_."""
        if isinstance(data, str) or not isinstance(
                data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, not "
                            f"{type(data).__name__}")
        data = bytes(data)
        d = ffi.new("arca_digest *")
        _check(lib.arca_blob_put(d, self._handle(), data, len(data)))
        return _hex(d)

    def put_file(self, path: PathLike) -> str:
        """Store a file's content (arca_blob_put_file()); returns its
        digest. Raises FileNotFoundError (no such file), TypeError,
        Invalid (not a regular file), Full, IOError_."""
        p = _path(path, "path")
        if not os.path.lexists(p):
            raise FileNotFoundError(2, "No such file or directory",
                                    os.fsdecode(p))
        d = ffi.new("arca_digest *")
        size = ffi.new("uint64_t *")
        _check(lib.arca_blob_put_file(d, size, self._handle(), p))
        return _hex(d)

    def get(self, digest: str) -> bytes:
        """The blob's bytes, verified against digest (arca_blob_get()).
        Raises NotFound, Corrupt (the blob is quarantined), Invalid (not
        a digest), TypeError."""
        d = _digest(digest)
        buf = ffi.new("arca_buf *")
        _check(lib.arca_blob_get(buf, self._handle(), d))
        try:
            return bytes(ffi.buffer(buf.data, buf.size))
        finally:
            lib.arca_buf_free(buf)

    def get_file(self, digest: str, path: PathLike,
                 mode: int = 0o644) -> None:
        """Write the blob, verified, to path atomically
        (arca_blob_get_file(); mode: permission bits). Raises as get()."""
        d = _digest(digest)
        _check(lib.arca_blob_get_file(self._handle(), d,
                                      _path(path, "path"), mode))

    # Store-wide ------------------------------------------------------

    def stats(self, days: int = 0) -> dict:
        """The store's statistics, as `arca stats --json` prints them
        (arca_stats_json(); days: also the last N days' rows)."""
        buf = ffi.new("arca_buf *")
        _check(lib.arca_stats_json(buf, self._handle(), days))
        try:
            return json.loads(bytes(ffi.buffer(buf.data, buf.size)))
        finally:
            lib.arca_buf_free(buf)

    def verify(self) -> Tuple[int, int]:
        """Re-hash every blob (arca_store_verify()); returns (checked,
        corrupt). Corrupt blobs are quarantined and dropped."""
        checked = ffi.new("uint64_t *")
        corrupt = ffi.new("uint64_t *")
        _check(lib.arca_store_verify(checked, corrupt, self._handle(),
                                     ffi.NULL, ffi.NULL))
        return int(checked[0]), int(corrupt[0])

    def digest_file(self, path: PathLike) -> str:
        """A file's SHA-256 (arca_store_digest_file(), through the stat
        cache). Raises FileNotFoundError, IOError_."""
        p = _path(path, "path")
        if not os.path.lexists(p):
            raise FileNotFoundError(2, "No such file or directory",
                                    os.fsdecode(p))
        d = ffi.new("arca_digest *")
        _check(lib.arca_store_digest_file(d, ffi.NULL, self._handle(), p,
                                          0, ffi.NULL, ffi.NULL))
        return _hex(d)

    def clear(self, *, tag: Optional[str] = None,
              stage: Optional[str] = None,
              input: Optional[PathLike] = None,
              all: bool = False) -> Tuple[int, int]:
        """Remove entries (arca_store_clear()): those carrying tag, those
        of stage, those that read input (a file, whose content is
        digested, or a 64-hex digest), or all=True for everything. Exactly
        one criterion. Returns (entries removed, bytes freed). Raises
        TypeError (no or several criteria), FileNotFoundError."""
        given = [k for k, v in (("tag", tag), ("stage", stage),
                                ("input", input)) if v is not None]
        if all:
            given.append("all")
        if len(given) != 1:
            raise TypeError("clear: give exactly one of tag=, stage=, "
                            "input=, all=True" +
                            (f" (got {', '.join(given)})" if given else ""))
        keep = _Keep()
        f = ffi.new("arca_clear_filter *")
        if all:
            f.all = 1
        elif tag is not None:
            f.tag = keep.s(_text(tag, "tag"))
        elif stage is not None:
            f.stage = keep.s(_text(stage, "stage"))
        else:
            if isinstance(input, str) and len(input) == 64 and _is_hex(
                    input) and not os.path.exists(input):
                d = _digest(input, "input")
            else:
                d = _digest(self.digest_file(input), "input")
            keep.refs.append(d)
            f.input = d
        n = ffi.new("uint64_t *")
        b = ffi.new("uint64_t *")
        _check(lib.arca_store_clear(n, b, self._handle(), f))
        return int(n[0]), int(b[0])

    # Stages ----------------------------------------------------------

    def stage(self, name: str, *, argv: Optional[Sequence[str]] = None,
              inputs: Iterable = (), optional_inputs: Iterable = (),
              params: Mapping[str, str] = None,
              secret_params: Mapping[str, str] = None,
              env: Iterable[str] = (), outputs: Iterable[PathLike] = (),
              tool: Optional[str] = None, ttl=None,
              tags: Iterable[str] = (), workdir: Optional[PathLike] = None,
              max_age=None) -> "Stage":
        """A stage of this store (see Stage). Arguments are checked now;
        inputs are digested at each call of the stage."""
        return Stage(self, name, argv=argv, inputs=inputs,
                     optional_inputs=optional_inputs, params=params,
                     secret_params=secret_params, env=env, outputs=outputs,
                     tool=tool, ttl=ttl, tags=tags, workdir=workdir,
                     max_age=max_age)

    def get_or_compute(self, name: str, fn: Callable[[], Any],
                       **stage_kwargs) -> Any:
        """store.stage(name, **stage_kwargs).get_or_compute(fn)."""
        return self.stage(name, **stage_kwargs).get_or_compute(fn)

    async def aget_or_compute(self, name: str, fn: Callable[[], Any],
                              **stage_kwargs) -> Any:
        """await store.stage(name, **stage_kwargs).aget_or_compute(fn)."""
        return await self.stage(name, **stage_kwargs).aget_or_compute(fn)

    def cached(self, stage: Optional[str] = None, *, ttl=None,
               tags: Iterable[str] = (), version: Optional[str] = None):
        """Decorator: memoise a function in this store.

        The key is made of the stage name (default
        "py:MODULE.QUALNAME"), the tool identity (version= when given,
        else the SHA-256 of the function's source, so editing it is a
        miss), the bound arguments (defaults applied) as canonical JSON
        in the param "args", and the content of every arca.Input(path)
        argument (as inputs named "arg:NAME"). Arguments must be
        JSON-serialisable (TypeError otherwise) or arca.Input. The result
        is stored as bytes when the function returns bytes, else as JSON
        (TypeError, nothing stored, when it is not serialisable).
        Single-flight as Stage.get_or_compute(); an async def function
        gives an async wrapper. wrapper.key(*args, **kwargs) returns the
        key a call would use. ttl: seconds or a duration string.
        """
        tags = tuple(tags)

        def decorate(f):
            name = stage or f"py:{f.__module__}.{f.__qualname__}"
            if version is not None:
                tool = "version:" + _text(version, "version").decode()
            else:
                try:
                    src = inspect.getsource(f)
                except (OSError, TypeError):
                    src = f.__code__.co_code.hex()
                tool = "source:" + hashlib.sha256(
                    src.encode("utf-8", "surrogateescape")).hexdigest()
            sig = inspect.signature(f)

            def stage_for(args, kwargs) -> Stage:
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                files = []

                def enc(v, where):
                    if isinstance(v, Input):
                        files.append((f"arg:{where}", v.path))
                        return {"arca.Input": where}
                    if isinstance(v, (list, tuple)):
                        return [enc(x, f"{where}[{i}]")
                                for i, x in enumerate(v)]
                    if isinstance(v, dict):
                        return {str(k): enc(x, f"{where}[{k}]")
                                for k, x in v.items()}
                    return v

                encoded = {k: enc(v, k) for k, v in bound.arguments.items()}
                try:
                    text = json.dumps(encoded, sort_keys=True,
                                      separators=(",", ":"),
                                      ensure_ascii=False)
                except TypeError as e:
                    raise TypeError(f"{name}: arguments must be "
                                    f"JSON-serialisable or arca.Input: "
                                    f"{e}") from None
                return self.stage(name, inputs=files,
                                  params={"args": text}, tool=tool,
                                  ttl=ttl, tags=tags)

            if inspect.iscoroutinefunction(f):
                @functools.wraps(f)
                async def awrapper(*args, **kwargs):
                    return await stage_for(args, kwargs).aget_or_compute(
                        functools.partial(f, *args, **kwargs))
                wrapper = awrapper
            else:
                @functools.wraps(f)
                def swrapper(*args, **kwargs):
                    return stage_for(args, kwargs).get_or_compute(
                        functools.partial(f, *args, **kwargs))
                wrapper = swrapper
            wrapper.key = lambda *a, **k: stage_for(a, k).key
            wrapper.stage_for = lambda *a, **k: stage_for(a, k)
            return wrapper

        if callable(stage) and not isinstance(stage, str):
            f, stage = stage, None
            return decorate(f)
        return decorate


# ---------------------------------------------------------------------------
# Stages

def _pairs(mapping, what: str) -> List[Tuple[bytes, bytes]]:
    if mapping is None:
        return []
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what}: expected a mapping of str to str, not "
                        f"{type(mapping).__name__}")
    return [(_text(k, f"{what} name"), _text(v, f"{what} '{k}'"))
            for k, v in mapping.items()]


class _Compute:
    """The state of one get_or_compute() call, reached from the C
    callback through an ffi handle."""

    def __init__(self, stage: "Stage", st, h, fn):
        self.stage, self.st, self.h, self.fn = stage, st, h, fn
        self.exc: Optional[BaseException] = None
        self.bytes_stored = 0

    def compute(self):
        t0 = time.monotonic()
        value = self.fn()
        elapsed_ms = int((time.monotonic() - t0) * 1000)
        mp = ffi.new("arca_manifest **")
        _check(lib.arca_manifest_from_action(mp, lib.arca_stage_action(
            self.st)))
        m = mp[0]
        try:
            d = ffi.new("arca_digest *")
            size = ffi.new("uint64_t *")
            for out in self.stage._outputs:
                path = os.path.join(self.stage._workdir_abs(), out)
                try:
                    stt = os.stat(path)
                except FileNotFoundError:
                    raise FileNotFoundError(
                        2, f"stage {self.stage.name}: output '"
                        f"{os.fsdecode(out)}' was not produced by the "
                        f"function", os.fsdecode(path)) from None
                _check(lib.arca_blob_put_file(d, size, self.h, path))
                self.bytes_stored += int(size[0])
                _check(lib.arca_manifest_add_output(
                    m, out, d, size[0], stt.st_mode & 0o777))
            if value is not None:
                if isinstance(value, (bytes, bytearray, memoryview)):
                    data, name = bytes(value), _VALUE_BYTES
                else:
                    data = json.dumps(value, ensure_ascii=False).encode()
                    name = _VALUE_JSON
                _check(lib.arca_blob_put(d, self.h, data, len(data)))
                self.bytes_stored += len(data)
                _check(lib.arca_manifest_add_output(
                    m, name.encode(), d, len(data), 0o644))
            _check(lib.arca_blob_put(ffi.addressof(m, "stdout_digest"),
                                     self.h, b"", 0))
            _check(lib.arca_blob_put(ffi.addressof(m, "stderr_digest"),
                                     self.h, b"", 0))
            m.stdout_size = m.stderr_size = 0
            m.exit_status = 0
            m.duration_ms = elapsed_ms
        except BaseException:
            lib.arca_manifest_free(m)
            raise
        return m


@ffi.def_extern()
def _arca_py_compute(out, ctx):
    c = ffi.from_handle(ctx)
    try:
        out[0] = c.compute()
        return 0
    except BaseException as e:  # re-raised by get_or_compute()
        c.exc = e
        return -8


class Stage:
    """A stage: a named piece of work whose result is cached under an
    action key made of its name, argv, inputs' content, params, secret
    params (their SHA-256 only: values are never stored), environment
    variables, declared outputs and tool identity (the key arca run
    computes for the same arguments).

    name: the stage name. argv: the command (run()). inputs: paths, or
    (name, path) pairs (the name enters the key; default the path),
    relative to workdir; optional_inputs: the same, may be absent.
    params, secret_params: str -> str. env: names of environment
    variables in the key. outputs: declared output files, relative to
    workdir. tool: a version string (arca run --tool-version); None: the
    digest of argv[0]'s executable; for a stage without argv, the tool
    version "python:" + the digest of the interpreter (sys.executable). ttl, max_age: seconds or
    a duration string ("7d"); ttl None: the store's default TTL. tags:
    attached to stored results (Store.clear(tag=...)). workdir: where
    inputs and outputs are and the command runs; None: the current
    directory at each call.

    The C stage (arca_stage_prepare()) is prepared in the calling thread
    at each call, so inputs are digested then (through the stat cache):
    .key reflects the files as they are now.
    """

    def __init__(self, store: Store, name: str, *, argv=None, inputs=(),
                 optional_inputs=(), params=None, secret_params=None,
                 env=(), outputs=(), tool=None, ttl=None, tags=(),
                 workdir=None, max_age=None):
        self.store = store
        self.name = name
        self._name = _text(name, "name")
        self._argv = self._argv_of(argv)
        self._inputs = self._inputs_of(inputs, "inputs")
        self._optional = self._inputs_of(optional_inputs, "optional_inputs")
        self._params = _pairs(params, "params")
        self._secrets = _pairs(secret_params, "secret_params")
        if isinstance(env, (str, bytes)):
            raise TypeError("env: expected a list of variable names")
        self._env = [_text(e, "env") for e in env]
        if isinstance(outputs, (str, bytes)):
            raise TypeError("outputs: expected a list of paths")
        self._outputs = [_path(o, "outputs") for o in outputs]
        self._tool = _text(tool, "tool") if tool is not None else None
        self._ttl = _seconds(ttl, "ttl") if ttl is not None else None
        self._max_age = _seconds(max_age, "max_age")
        if isinstance(tags, (str, bytes)):
            raise TypeError("tags: expected a list of str")
        self._tags = [_text(t, "tags") for t in tags]
        self._workdir = _path(workdir, "workdir") if workdir is not None \
            else None
        self.computed = False

    @staticmethod
    def _argv_of(argv):
        if argv is None:
            return None
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv: expected a list of str (the command "
                            "and its arguments), not one string")
        out = [_path(a, "argv") for a in argv]
        if not out:
            raise ValueError("argv: empty")
        return out

    @staticmethod
    def _inputs_of(items, what):
        if isinstance(items, (str, bytes)) or hasattr(items, "__fspath__"):
            raise TypeError(f"{what}: expected a list of paths, not one "
                            f"path")
        out = []
        for it in items:
            if isinstance(it, tuple):
                if len(it) != 2:
                    raise TypeError(f"{what}: expected (name, path) pairs")
                out.append((_text(it[0], f"{what} name"),
                            _path(it[1], what)))
            else:
                p = _path(it, what)
                out.append((p, p))
        return out

    def _workdir_abs(self) -> bytes:
        return os.path.abspath(self._workdir) if self._workdir is not None \
            else os.getcwd().encode()

    def _prepare(self, h, argv=None, flags=0, stdout_fd=-1, stderr_fd=-1):
        """arca_stage_prepare() in this thread: returns (st, keep)."""
        keep = _Keep()
        spec = ffi.new("arca_stage_spec *")
        lib._arca_py_spec_init(spec)
        keep.refs.append(spec)
        spec.stage = keep.s(self._name)
        argv = argv if argv is not None else self._argv
        base = self._workdir_abs()
        for name, path in self._inputs:
            full = os.path.join(base, path)
            if not os.path.lexists(full):
                raise FileNotFoundError(
                    2, f"stage {self.name}: input '{os.fsdecode(name)}': "
                    f"No such file or directory", os.fsdecode(full))
        if argv is not None:
            spec.argv = keep.strv(argv, nul=True)
        tool = self._tool
        if tool is None and argv is None:
            # libarca needs a tool version for a stage without a command:
            # the interpreter's digest stands for the executable's.
            tool = self.store._python_tool()
        if tool is not None:
            spec.tool_version = keep.s(tool)

        def pairs(ctype, second, items):
            arr = ffi.new(ctype + "[]", max(len(items), 1))
            keep.refs.append(arr)
            for i, (a, b) in enumerate(items):
                arr[i].name = keep.s(a)
                setattr(arr[i], second, keep.s(b))
            return arr, len(items)
        spec.inputs, spec.n_inputs = pairs("arca_stage_input", "path",
                                           self._inputs)
        spec.optional_inputs, spec.n_optional_inputs = pairs(
            "arca_stage_input", "path", self._optional)
        spec.params, spec.n_params = pairs("arca_stage_param", "value",
                                           self._params)
        spec.secret_params, spec.n_secret_params = pairs(
            "arca_stage_param", "value", self._secrets)
        spec.env, spec.n_env = keep.strv(self._env), len(self._env)
        spec.outputs = keep.strv(self._outputs)
        spec.n_outputs = len(self._outputs)
        spec.tags, spec.n_tags = keep.strv(self._tags), len(self._tags)
        spec.ttl_s = self._ttl or 0
        spec.max_age_s = self._max_age
        if self._workdir is not None:
            spec.workdir = keep.s(self._workdir)
        spec.flags = flags
        spec.stdout_fd = stdout_fd
        spec.stderr_fd = stderr_fd
        spec.stdin_fd = -1
        stp = ffi.new("arca_stage **")
        _check(lib.arca_stage_prepare(stp, ffi.NULL, h, spec))
        return stp[0], keep

    @property
    def key(self) -> str:
        """The action key now (64 hex): inputs digested as they are."""
        st, _keep = self._prepare(self.store._handle())
        try:
            return _hex(lib.arca_stage_key(st))
        finally:
            lib.arca_stage_free(st)

    def lookup(self) -> Optional[Result]:
        """Look the key up (arca_stage_lookup()) and on a hit restore the
        declared outputs into workdir (arca_stage_restore(), all or
        nothing; counted as a hit). Returns the entry, or None on a miss
        (also when the entry could not serve: a blob corrupt or gone; it
        is then dropped). Raises FileNotFoundError (an input), Busy,
        IOError_, and restore errors (PermissionDenied, Full, Invalid:
        an output's place is a directory)."""
        h = self.store._handle()
        st, _keep = self._prepare(h)
        try:
            mp = ffi.new("arca_manifest **")
            rc = lib.arca_stage_lookup(mp, st)
            if rc == NotFound.code:
                return None
            _check(rc)
            try:
                rc = lib.arca_stage_restore(st, mp[0])
                if rc in (Corrupt.code, NotFound.code):
                    lib.arca_action_remove(h, lib.arca_stage_key(st))
                    return None
                _check(rc)
                return _result(mp[0], self.store, True)
            finally:
                lib.arca_manifest_free(mp[0])
        finally:
            lib.arca_stage_free(st)

    def commit(self, *, exit_status: int = 0, duration_ms: int = 0,
               stdout: bytes = b"", stderr: bytes = b"") -> Result:
        """Store work the caller did itself (arca_stage_commit()): the
        declared outputs (files in workdir), stdout and stderr bytes, the
        exit status and run time in ms (hits report it as saved). Raises
        NotFound (an output missing, named), Invalid (an output not a
        regular file), Full, IOError_. Nothing is stored on error."""
        for what, v in (("stdout", stdout), ("stderr", stderr)):
            if not isinstance(v, (bytes, bytearray)):
                raise TypeError(f"{what}: expected bytes, not "
                                f"{type(v).__name__}")
        h = self.store._handle()
        st, _keep = self._prepare(h)
        try:
            mp = ffi.new("arca_manifest **")
            _check(lib.arca_stage_commit(mp, st, exit_status, duration_ms,
                                         bytes(stdout), len(stdout),
                                         bytes(stderr), len(stderr)))
            try:
                return _result(mp[0], self.store, False)
            finally:
                lib.arca_manifest_free(mp[0])
        finally:
            lib.arca_stage_free(st)

    def run(self, argv: Optional[Sequence[str]] = None, *, stdout=None,
            stderr=None, capture_output: bool = False,
            no_cache: bool = False, refresh: bool = False) -> RunResult:
        """What `arca run` does (arca_stage_run()): look the key up; on a
        hit restore the outputs and replay stdout and stderr; on a miss
        take the key's lease (single-flight across threads and
        processes), run argv in workdir with stdin /dev/null and its
        streams passed through and captured, and store the result when it
        exits 0 with every declared output. argv: the command, instead of
        the stage's. stdout/stderr: None (this process's), an fd, a file
        or arca.DEVNULL; capture_output=True also returns them as bytes.
        no_cache: just run; refresh: run and replace the entry.
        Returns a RunResult (a failing command is not an exception).
        Raises NotFound / PermissionDenied (the command not found / not
        executable), FileNotFoundError (an input), Timeout, Full,
        IOError_."""
        argv = self._argv_of(argv) if argv is not None else self._argv
        if argv is None:
            raise TypeError("run: the stage has no argv and none was "
                            "given")
        flags = (lib.ARCA_STAGE_NO_CACHE if no_cache else 0) | \
            (lib.ARCA_STAGE_REFRESH if refresh else 0)
        cap_out = cap_err = None
        if capture_output:
            cap_out = tempfile.TemporaryFile()
            cap_err = tempfile.TemporaryFile()
            ofd, efd = cap_out.fileno(), cap_err.fileno()
        else:
            ofd = _fd(stdout, "stdout", 1)
            efd = _fd(stderr, "stderr", 2)
        try:
            h = self.store._handle()
            st, _keep = self._prepare(h, argv, flags, ofd, efd)
            try:
                r = ffi.new("arca_stage_result *")
                rc = lib.arca_stage_run(r, st)
                _check(rc)
                res = RunResult(_OUTCOMES.get(int(r.outcome), "error"),
                                bool(lib.arca_stage_result_ok(r)),
                                int(r.exit_status), int(r.duration_ms),
                                _hex(ffi.addressof(r, "key")))
            finally:
                lib.arca_stage_free(st)
            if capture_output:
                cap_out.seek(0)
                cap_err.seek(0)
                res.stdout, res.stderr = cap_out.read(), cap_err.read()
            return res
        finally:
            if cap_out is not None:
                cap_out.close()
                cap_err.close()

    def get_or_compute(self, fn: Callable[[], Any]) -> Any:
        """Single-flight memoisation (arca_get_or_compute()): return the
        stored value, or call fn() (no arguments) exactly once however
        many threads and processes ask at the same time, and store what
        it did: the declared outputs it wrote in workdir, and its return
        value (None; bytes, stored as is; or anything JSON-serialisable).
        A hit restores the declared outputs and returns the stored
        value; .computed says whether this call ran fn. When fn raises,
        nothing is stored and the exception propagates. Raises
        FileNotFoundError (an input, or an output fn did not write),
        TypeError (a value that is not JSON-serialisable), Timeout, Full,
        IOError_."""
        if not callable(fn):
            raise TypeError(f"fn: expected a callable, not "
                            f"{type(fn).__name__}")
        h = self.store._handle()
        for attempt in (1, 2):
            st, _keep = self._prepare(h)
            try:
                ctx = _Compute(self, st, h, fn)
                handle = ffi.new_handle(ctx)
                opts = ffi.new("arca_compute_options *")
                lib._arca_py_compute_options_init(opts)
                keep = _Keep()
                if self._ttl is not None:
                    opts.ttl_s = self._ttl
                else:
                    o = ffi.new("arca_options *")
                    lib._arca_py_options_init(o)
                    if lib.arca_store_get_options(o, h) == 0:
                        opts.ttl_s = o.default_ttl_s
                opts.tags = keep.strv(self._tags)
                opts.n_tags = len(self._tags)
                opts.max_age_s = self._max_age
                mp = ffi.new("arca_manifest **")
                computed = ffi.new("int *")
                rc = lib.arca_get_or_compute(mp, computed, h,
                                             lib.arca_stage_key(st),
                                             lib._arca_py_compute, handle,
                                             opts)
                if ctx.exc is not None:
                    raise ctx.exc
                if rc < 0:
                    if mp[0] != ffi.NULL:
                        lib.arca_manifest_free(mp[0])
                    _raise(rc)
                m = mp[0]
                try:
                    self.computed = bool(computed[0])
                    if self.computed:
                        lib.arca_stats_record(h, self._name,
                                              lib.ARCA_EVENT_MISS,
                                              ctx.bytes_stored, 0)
                    else:
                        rc = lib.arca_stage_restore(st, m)
                        if rc in (Corrupt.code, NotFound.code) and \
                                attempt == 1:
                            lib.arca_action_remove(h, lib.arca_stage_key(st))
                            continue
                        _check(rc)
                    res = _result(m, self.store, not self.computed)
                finally:
                    lib.arca_manifest_free(m)
                try:
                    return res.value()
                except (Corrupt, NotFound):
                    # the stored value's blob went bad (quarantined) or
                    # away: a miss, as for a corrupt output
                    if self.computed or attempt != 1:
                        raise
                    lib.arca_action_remove(h, lib.arca_stage_key(st))
                    continue
            finally:
                lib.arca_stage_free(st)
        raise Corrupt(f"stage {self.name}: the cached entry could not be "
                      f"restored", Corrupt.code)

    async def aget_or_compute(self, fn: Callable[[], Any]) -> Any:
        """get_or_compute() off the event loop (in one of the store's
        threads, not the default executor's bounded pool; the wait for another holder's lease does not
        block the loop). fn may be a plain function (run in the worker thread) or
        an async def function / one returning an awaitable (run on this
        loop while the worker holds the lease)."""
        loop = asyncio.get_running_loop()
        if inspect.iscoroutinefunction(fn) or (
                isinstance(fn, functools.partial) and
                inspect.iscoroutinefunction(fn.func)):
            def sync_fn():
                return asyncio.run_coroutine_threadsafe(fn(), loop).result()
        else:
            def sync_fn():
                v = fn()
                if inspect.isawaitable(v):
                    async def wait():
                        return await v
                    return asyncio.run_coroutine_threadsafe(
                        wait(), loop).result()
                return v
        # Not the loop's default executor: its workers are bounded, and a
        # worker holding a lease while it waits for a coroutine that
        # itself needs a worker (a nested aget_or_compute, to_thread)
        # would deadlock once every worker waits. The store's own threads
        # (_Threads) grow as needed.
        fut = loop.create_future()

        def settle(ok, v):
            if not fut.done():
                (fut.set_result if ok else fut.set_exception)(v)

        def work():
            try:
                ok, v = True, self.get_or_compute(sync_fn)
            except BaseException as e:
                ok, v = False, e
            try:
                loop.call_soon_threadsafe(settle, ok, v)
            except RuntimeError:  # the loop closed meanwhile
                pass

        self.store._threads.submit(work)
        return await fut

    async def arun(self, argv: Optional[Sequence[str]] = None,
                   **kwargs) -> RunResult:
        """run() off the event loop (in the loop's default executor)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, functools.partial(self.run, argv, **kwargs))


# ---------------------------------------------------------------------------
# Pipelines

_PIPE_KINDS = {1: "stage_start", 3: "progress_begin", 4: "progress",
               5: "progress_end", 6: "url_fetched", 7: "stage_error",
               8: "warning", 9: "hit", 10: "ran", 11: "degraded",
               12: "failed", 13: "skipped", 14: "predicted"}
_STAGE_KINDS = {1: "miss", 2: "hit", 3: "started", 4: "stored", 5: "ran",
                6: "failed", 7: "output_missing", 8: "cache_write_failed",
                9: "lease_wait", 10: "lease_timeout", 11: "corrupt",
                12: "lookup_failed", 13: "lease_failed",
                14: "remove_failed", 15: "stats_failed", 16: "output_wait",
                17: "stdin_uncached", 18: "restored"}
_STATES = {0: "none", 1: "not_run", 2: "hit", 3: "ran", 4: "degraded",
           5: "failed", 6: "up_to_date", 7: "would_run", 8: "always"}


@dataclass
class Event:
    """A progress event of Pipeline.run()/status().

    kind: "stage_start", "hit", "ran", "degraded", "failed", "skipped",
    "predicted" (a stage's outcome or prediction), "stage" (an event of
    the stage runner: detail is "miss", "hit", "started", "stored",
    "restored", "lease_wait", ...), "progress_begin", "progress",
    "progress_end" (done and total in bytes; total 0 when unknown),
    "url_fetched", "stage_error", "warning" (message). stage: the stage
    name. state: the stage's state for outcome events.
    """
    kind: str
    stage: Optional[str]
    detail: Optional[str] = None
    done: int = 0
    total: int = 0
    message: str = ""
    state: Optional[str] = None


@dataclass
class StageReport:
    """One stage of a Report. state: "hit", "ran", "degraded", "failed",
    "not_run", "up_to_date", "would_run" or "always"; exit_status,
    duration_ms (ms; a hit's saved time), key (64 hex, None when not
    computed); reasons: why it would run (predictions); message: what
    went wrong when arca could not run it."""
    name: str
    state: str
    exit_status: int
    duration_ms: int
    key: Optional[str]
    reasons: List[str]
    notes: List[str]
    message: str
    cached: bool


@dataclass
class Report:
    """The result of Pipeline.run() or .status(): the selected stages in
    plan order, counts, saved_ms (recorded run time of the hits), ok
    (no required stage failed) and failed (its name, or None)."""
    stages: List[StageReport]
    n_hit: int
    n_ran: int
    n_degraded: int
    n_failed: int
    n_not_run: int
    n_would_run: int
    saved_ms: int
    failed: Optional[str]

    @property
    def ok(self) -> bool:
        return self.failed is None

    def __getitem__(self, name: str) -> StageReport:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)


class _Progress:
    def __init__(self, fn):
        self.fn = fn
        self.exc: Optional[BaseException] = None


@ffi.def_extern()
def _arca_py_pipeline_event(ctx, ev):
    p = ffi.from_handle(ctx)
    if p.exc is not None:
        return
    try:
        kind = int(ev.kind)
        stage = _str(ev.stage.name) if ev.stage != ffi.NULL else None
        msg = _str(ev.message) if ev.message != ffi.NULL else ""
        if kind == 2:
            se = ev.stage_event
            e = Event("stage", stage,
                      _STAGE_KINDS.get(int(se.kind), str(int(se.kind))),
                      message=_str(se.message) if se.message != ffi.NULL
                      else "")
        else:
            e = Event(_PIPE_KINDS.get(kind, str(kind)), stage,
                      done=int(ev.done), total=int(ev.total),
                      message=msg or "",
                      state=_STATES.get(int(ev.report.state))
                      if ev.report != ffi.NULL else None)
        p.fn(e)
    except BaseException as exc:  # re-raised after the run
        p.exc = exc


def _strs(arr, n) -> List[str]:
    return [_str(arr[i]) for i in range(n)]


def _report(r) -> Report:
    stages = []
    for i in range(r.n_stages):
        s = r.stages[i]
        state = _STATES.get(int(s.state), str(int(s.state)))
        keyed = state not in ("none", "not_run")
        key = _hex(ffi.addressof(s.result, "key")) if keyed else None
        stages.append(StageReport(
            _str(s.stage.name), state, int(s.result.exit_status),
            int(s.result.duration_ms), key, _strs(s.reasons, s.n_reasons),
            _strs(s.notes, s.n_notes),
            _str(s.message) if s.message != ffi.NULL else "",
            bool(s.cached)))
    failed = _str(r.stages[r.failed].stage.name) if r.failed >= 0 else None
    return Report(stages, int(r.n_hit), int(r.n_ran), int(r.n_degraded),
                  int(r.n_failed), int(r.n_not_run), int(r.n_would_run),
                  int(r.saved_ms), failed)


class Pipeline:
    """A pipeline file (docs/pipeline.md), loaded with
    arca_pipeline_load(). store: the Store to run it in; None opens
    arca's default store. Raises FileNotFoundError, Invalid (a bad file:
    the message is "FILE:LINE: ...")."""

    def __init__(self, path: PathLike, *, store: Optional[Store] = None):
        p = _path(path, "path")
        if not os.path.lexists(p):
            raise FileNotFoundError(2, "No such file or directory",
                                    os.fsdecode(p))
        pp = ffi.new("arca_pipeline **")
        _check(lib.arca_pipeline_load(pp, p))
        self._p = ffi.gc(pp[0], lib.arca_pipeline_free)
        self.path = os.fsdecode(p)
        self.store = store if store is not None else Store()

    @property
    def stages(self) -> List[str]:
        """The stage names, in file order."""
        return [_str(self._p.stages[i].name)
                for i in range(self._p.n_stages)]

    def _options(self, keep, params, targets, force, no_cache, refresh,
                 progress, stdout, stderr):
        o = ffi.new("arca_pipeline_run_options *")
        lib._arca_py_pipeline_options_init(o)
        pairs = _pairs(params, "params")
        o.param_names = keep.strv([k for k, _ in pairs])
        o.param_values = keep.strv([v for _, v in pairs])
        o.n_params = len(pairs)
        for what, items in (("targets", targets), ("force", force)):
            if isinstance(items, (str, bytes)):
                raise TypeError(f"{what}: expected a list of stage names")
        t = [_text(x, "targets") for x in targets]
        f = [_text(x, "force") for x in force]
        o.targets, o.n_targets = keep.strv(t), len(t)
        o.force, o.n_force = keep.strv(f), len(f)
        o.no_cache, o.refresh = int(bool(no_cache)), int(bool(refresh))
        o.stdout_fd = _fd(stdout, "stdout", 1)
        o.stderr_fd = _fd(stderr, "stderr", 2)
        prog = None
        if progress is not None:
            if not callable(progress):
                raise TypeError("progress: expected a callable")
            prog = _Progress(progress)
            h = ffi.new_handle(prog)
            keep.refs.append(h)
            o.event = lib._arca_py_pipeline_event
            o.event_ctx = h
        return o, prog

    def _call(self, fn, progress, **kw) -> Report:
        keep = _Keep()
        o, prog = self._options(keep, progress=progress, **kw)
        rp = ffi.new("arca_pipeline_report **")
        _check(fn(rp, self.store._handle(), self._p, o))
        try:
            rep = _report(rp[0])
        finally:
            lib.arca_pipeline_report_free(rp[0])
        if prog is not None and prog.exc is not None:
            raise prog.exc
        return rep

    def run(self, *, params: Mapping[str, str] = None,
            targets: Sequence[str] = (), force: Sequence[str] = (),
            no_cache: bool = False, refresh: bool = False,
            progress: Optional[Callable[[Event], None]] = None,
            stdout=None, stderr=None) -> Report:
        """Run the selected stages (arca_pipeline_run(), what `arca
        repro` does): params override the file's defaults; targets: the
        stages to run with what they read (all when empty); force: stages
        to recompute, with what is downstream; no_cache: run everything,
        store nothing; refresh: run everything, replace the entries.
        progress(event) is called on this thread for each arca.Event; an
        exception it raises is re-raised after the run. A failing stage
        is reported, not raised (Report.ok, Report.failed). Raises
        NotFound (a param no stage uses, an unknown target), Invalid."""
        return self._call(lib.arca_pipeline_run, progress, params=params,
                          targets=targets, force=force, no_cache=no_cache,
                          refresh=refresh, stdout=stdout, stderr=stderr)

    def status(self, *, params: Mapping[str, str] = None,
               targets: Sequence[str] = (), force: Sequence[str] = (),
               progress: Optional[Callable[[Event], None]] = None
               ) -> Report:
        """Predict what run() would do (arca_pipeline_status(), `arca
        status`): each stage "up_to_date", "would_run" (reasons say why)
        or "always"; nothing runs, nothing is fetched or counted."""
        return self._call(lib.arca_pipeline_status, progress, params=params,
                          targets=targets, force=force, no_cache=False,
                          refresh=False, stdout=None, stderr=None)
