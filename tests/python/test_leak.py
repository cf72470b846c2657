"""No leak of C objects: once warm, 10,000 more put/get calls (and 2,000
stage lookups) leave the resident set and the C allocator's bytes in use
(glibc mallinfo2: every arena, plus mmap'd chunks) within a bound.
(tests/python/asan_leak.py does the same under AddressSanitizer's leak
checker in the ARCA_SANITIZE build.)"""
import ctypes
import gc
import os

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc = ctypes.CDLL(None)
try:
    _libc.mallinfo2.restype = _Mallinfo2
except AttributeError:  # not glibc >= 2.33
    _libc = None


def c_heap():
    """Bytes the C allocator has handed out and not had back."""
    if _libc is None:
        pytest.skip("no mallinfo2 (glibc >= 2.33)")
    m = _libc.mallinfo2()
    return m.uordblks + m.hblkhd


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def churn(store, n, big, digest_big):
    for i in range(n):
        d = store.put(b"small %d" % (i % 500))   # inline blobs
        assert store.get(d)
        assert store.get(digest_big) is not None  # a 64 KiB file blob
    store.put(big)


def test_put_get_rss_bounded(store):
    big = os.urandom(64 << 10)
    digest_big = store.put(big)
    churn(store, 2000, big, digest_big)          # warm-up
    gc.collect()
    before, heap = rss(), c_heap()
    churn(store, 10_000, big, digest_big)
    gc.collect()
    grown, heap_grown = rss() - before, c_heap() - heap
    # a leaked digest or error string per call is >= 320 KB of heap
    assert heap_grown < 160 << 10, "C heap grew by %d bytes" % heap_grown
    # a leaked arca_buf per get is 64 KiB x 10,000 = 640 MB
    assert grown < 8 << 20, "RSS grew by %d bytes" % grown


def test_stage_lookup_rss_bounded(store, work):
    (work / "in.txt").write_bytes(os.urandom(1000))
    st = store.stage("leak", inputs=["in.txt"], outputs=["o.bin"],
                     tool="v1", workdir=str(work))
    (work / "o.bin").write_bytes(os.urandom(32 << 10))
    st.commit(stdout=os.urandom(16 << 10))
    for _ in range(300):
        assert st.lookup().stdout
    gc.collect()
    before, heap = rss(), c_heap()
    for _ in range(2000):
        r = st.lookup()
        assert len(r.stdout) == 16 << 10
    del r
    gc.collect()
    grown, heap_grown = rss() - before, c_heap() - heap
    # a leaked manifest (or stage) per lookup is >= 2000 x 100 bytes
    assert heap_grown < 100 << 10, "C heap grew by %d bytes" % heap_grown
    assert grown < 8 << 20, "RSS grew by %d bytes" % grown


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_threads_that_end_release_their_handles(store):
    """A Store used from short-lived threads (a thread per request) must
    not keep one open C handle (SQLite connection, descriptors) per
    thread that ever touched it until close()."""
    import threading

    store.put(b"main")
    base = open_fds()
    for i in range(100):
        t = threading.Thread(target=store.put, args=(b"t%d" % i,))
        t.start()
        t.join()
    gc.collect()
    assert open_fds() - base < 10, "%d descriptors more after 100 threads" \
        % (open_fds() - base)
    assert store.get(store.put(b"main again")) == b"main again"
