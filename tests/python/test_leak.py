"""No leak of C objects: the resident set after 10,000 more put/get calls
stays within a bound once warm. (tests/python/asan_leak.py does the same
under AddressSanitizer's leak checker in the ARCA_SANITIZE build.)"""
import gc
import os

import arca

PAGE = os.sysconf("SC_PAGE_SIZE")


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
    before = rss()
    churn(store, 10_000, big, digest_big)
    gc.collect()
    grown = rss() - before
    # a leaked arca_buf per get is 64 KiB x 10,000 = 640 MB; a leaked
    # digest or error string per call is still > 1 MB over 10,000 calls
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
    before = rss()
    for _ in range(2000):
        r = st.lookup()
        assert len(r.stdout) == 16 << 10
    gc.collect()
    grown = rss() - before
    # a leaked manifest + stdout buffer per lookup is > 32 MB here
    assert grown < 8 << 20, "RSS grew by %d bytes" % grown
