"""10,000 put/get calls (and stage lookups) through the binding, then
LeakSanitizer's check; run by tests/python/asan_leak.sh in the
ARCA_SANITIZE build, with libasan preloaded and PYTHONMALLOC=malloc (so
every Python object is a malloc block LSan scans: no false reports from
pymalloc's mmap'd arenas).

The check runs explicitly (__lsan_do_leak_check) while the interpreter is
still whole, after main() returned, then os._exit(0): what the interpreter leaves at its own
exit is not ours. With ARCA_LEAK_SELFTEST=1 it leaks one arca_buf on
purpose (an arca_buf never freed), to show the check would catch it (the wrapper expects failure).
"""
import asyncio
import ctypes
import gc
import os
import sys
import tempfile
import threading
import time

import arca
from arca._arca import ffi, lib


def main():
    arca._Threads.IDLE_S = 0.2  # aget_or_compute's idle threads end soon
    top = tempfile.mkdtemp(prefix="arca-asan-")
    work = os.path.join(top, "work")
    os.mkdir(work)
    with arca.Store(os.path.join(top, "store"), tiers=[]) as s:
        big = os.urandom(64 << 10)
        big_digest = s.put(big)
        for i in range(10_000):
            d = s.put(b"small %d" % (i % 500))
            assert s.get(d)
            assert s.get(big_digest) == big
        try:
            s.get("0" * 64)
        except arca.NotFound:
            pass
        # short-lived threads: each opens its own handle, closed when it
        # ends or by close()
        def worker(i):
            assert s.get(s.put(b"thread %d" % i)) == b"thread %d" % i
        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # stages: prepare, lookup, commit, get_or_compute, run
        if hasattr(s, "stage"):
            with open(os.path.join(work, "in.txt"), "w") as f:
                f.write("input")
            st = s.stage("asan", inputs=["in.txt"], outputs=["o.txt"],
                         params={"p": "1"}, secret_params={"s": "x"},
                         tool="v1", workdir=work)

            def fn():
                with open(os.path.join(work, "o.txt"), "w") as f:
                    f.write("out")
                return {"v": 1}

            for _ in range(200):
                assert st.get_or_compute(fn) == {"v": 1}
                assert st.lookup().outputs
            r = s.stage("asan-run", argv=["sh", "-c", "echo hi > r.txt"],
                        outputs=["r.txt"], workdir=work).run()
            assert r.ok
            # error paths: each must free what it allocated
            for _ in range(50):
                def boom():
                    raise ValueError("boom")
                try:
                    s.stage("asan-raise", workdir=work).get_or_compute(boom)
                except ValueError:
                    pass
                try:
                    s.stage("asan-noout", outputs=["never.txt"],
                            workdir=work).get_or_compute(lambda: 1)
                except FileNotFoundError:
                    pass
                try:
                    s.stage("asan-nf", argv=["arca-no-such-cmd"],
                            tool="v1", workdir=work).run()
                except arca.NotFound:
                    pass
                s.stage("asan-fail", argv=["sh", "-c", "exit 3"],
                        workdir=work).run()

            @s.cached()
            def cached_fn(x, path: arca.Input):
                return [x]

            for i in range(100):
                assert cached_fn(i % 10, arca.Input(
                    os.path.join(work, "in.txt"))) == [i % 10]
            @s.cached()
            async def ainner(i):
                return i

            @s.cached()
            async def aouter(i):
                return await ainner(i) + 1

            async def many():
                return await asyncio.gather(*(
                    aouter(i % 5) for i in range(40)))

            assert asyncio.run(many()) == [i % 5 + 1 for i in range(40)]
            # the idle worker threads end (closing their handles) before
            # the check: LSan's stop-the-world is not for live threads
            deadline = time.monotonic() + 20
            while threading.active_count() > 1:
                assert time.monotonic() < deadline, threading.enumerate()
                time.sleep(0.05)
            with open(os.path.join(work, "arca.yaml"), "w") as f:
                f.write("stages:\n  a:\n    cmd: cat in.txt > a.txt\n"
                        "    deps: [in.txt]\n    outs: [a.txt]\n"
                        "  b:\n    cmd: exit 1\n    deps: [a.txt]\n")
            p = arca.Pipeline(os.path.join(work, "arca.yaml"), store=s)
            events = []
            for _ in range(20):
                p.run(progress=events.append, stdout=arca.DEVNULL,
                      stderr=arca.DEVNULL)
                p.status(progress=events.append)
            assert events
            del p
    if os.environ.get("ARCA_LEAK_SELFTEST") == "1":
        # a blob read and its arca_buf never freed (a missing
        # arca_buf_free in the binding would look like this)
        pp = ffi.new("arca_store **")
        assert lib.arca_store_open(pp, os.path.join(top, "store").encode(),
                                   ffi.NULL) == 0
        d = ffi.new("arca_digest *")
        assert lib.arca_digest_from_hex(d, big_digest.encode()) == 0
        buf = ffi.new("arca_buf *")
        assert lib.arca_blob_get(buf, pp[0], d) == 0
        lib.arca_store_close(pp[0])
        del buf

if __name__ == "__main__":
    main()
    # From the module's level, main()'s frame gone: Python 3.11 keeps
    # frames in mmap'd chunks LSan does not scan, so an object only a
    # live frame refers to would look leaked.
    gc.collect()
    ctypes.CDLL(None).__lsan_do_leak_check()  # exits non-zero on a leak
    sys.stdout.write("asan_leak: no leak\n")
    sys.stdout.flush()
    os._exit(0)
