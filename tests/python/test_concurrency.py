"""Single flight: threads, processes and asyncio tasks on one key compute
once; stage.arun keeps the event loop free."""
import asyncio
import functools
import hashlib
import multiprocessing
import os
import threading
import time

import pytest

import arca


def test_16_threads_one_key_compute_once(store):
    calls = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)
    results, errors = [None] * 16, []

    def fn():
        with lock:
            calls.append(threading.get_ident())
        time.sleep(0.3)
        return {"v": "computed once"}

    def worker(i):
        try:
            barrier.wait()
            results[i] = store.get_or_compute("t16", fn, params={"k": "1"})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(calls) == 1, calls
    assert results == [{"v": "computed once"}] * 16
    # they overlapped: one compute, not sixteen one after the other
    assert time.monotonic() - t0 < 0.3 * 8


def test_threads_different_keys_run_in_parallel(store):
    """The guard of the test above: distinct keys all compute."""
    calls = []

    def worker(i):
        store.get_or_compute("tk", lambda: calls.append(i) or i,
                             params={"k": str(i)})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(calls) == list(range(8))


def _logged_compute(log, value):
    """The computation: logs this process's pid (each line one call)."""
    with open(log, "a") as f:
        f.write("%d\n" % os.getpid())
    time.sleep(0.3)
    return value


def _proc_compute(store_dir, log, barrier):
    """A process's body: spawn pickles it by name, so it lives here."""
    with arca.Store(store_dir, tiers=[]) as s:
        barrier.wait()
        fn = functools.partial(_logged_compute, log, "shared")
        assert s.get_or_compute("procs", fn, params={"k": "1"}) == "shared"


def _proc_compute_inherited(store, log, barrier):
    """fork: the child uses the parent's Store object (it reopens)."""
    barrier.wait()
    fn = functools.partial(_logged_compute, log, "inherited")
    assert store.get_or_compute("procs-inh", fn) == "inherited"
    store.put(b"child %d" % os.getpid())


def _four_processes_compute_once(method, target, first_arg, tmp_path):
    """Start 4 processes of target(first_arg, log, barrier) at once; each
    exits 0 and the computation they share ran once (one line in log)."""
    ctx = multiprocessing.get_context(method)
    log = str(tmp_path / "calls.log")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=target, args=(first_arg, log, barrier))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    with open(log) as f:
        assert len(f.read().splitlines()) == 1
    return procs


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_4_processes_one_key_compute_once(store_dir, tmp_path, method):
    _four_processes_compute_once(method, _proc_compute, store_dir, tmp_path)


def test_forked_children_share_parent_store(store, tmp_path):
    store.put(b"parent first")  # the parent's handle is open before fork
    procs = _four_processes_compute_once("fork", _proc_compute_inherited,
                                         store, tmp_path)
    # the parent's handle still works, and sees the children's work
    assert store.get_or_compute("procs-inh", lambda: "parent") == "inherited"
    for p in procs:
        assert store.get(hashlib.sha256(
            b"child %d" % p.pid).hexdigest()) == b"child %d" % p.pid


def test_asyncio_50_tasks_5_keys_compute_5_times(store):
    calls = []

    def fn_for(i):
        async def fn():
            calls.append(i)
            await asyncio.sleep(0.2)
            return {"key": i}
        return fn

    async def main():
        async def one(n):
            i = n % 5
            return await store.aget_or_compute(
                "async", fn_for(i), params={"i": str(i)})
        return await asyncio.gather(*(one(n) for n in range(50)))

    t0 = time.monotonic()
    results = asyncio.run(main())
    assert sorted(calls) == [0, 1, 2, 3, 4]
    assert results == [{"key": n % 5} for n in range(50)]
    assert time.monotonic() - t0 < 5 * 0.2 * 3  # the keys overlapped


def test_asyncio_plain_function_in_worker_thread(store):
    calls = []
    loop_thread = []

    def fn(i):
        def f():
            calls.append(i)
            loop_thread.append(threading.get_ident())
            time.sleep(0.2)
            return i
        return f

    async def main():
        main_ident = threading.get_ident()
        rs = await asyncio.gather(*(
            store.aget_or_compute("async-plain", fn(n % 5),
                                  params={"i": str(n % 5)})
            for n in range(50)))
        return rs, main_ident

    rs, main_ident = asyncio.run(main())
    assert rs == [n % 5 for n in range(50)]
    assert sorted(calls) == [0, 1, 2, 3, 4]
    assert main_ident not in loop_thread  # fn ran off the loop


def test_arun_does_not_block_the_loop(store, work):
    ticks = []

    async def ticker(stop):
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def main():
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        stages = [store.stage("arun", argv=["sh", "-c", "sleep 0.5; echo %d" % i],
                              params={"i": str(i)}, workdir=str(work))
                  for i in range(3)]
        t0 = time.monotonic()
        rs = await asyncio.gather(*(s.arun(capture_output=True)
                                    for s in stages))
        elapsed = time.monotonic() - t0
        stop.set()
        await t
        return rs, elapsed, t0

    rs, elapsed, t0 = asyncio.run(main())
    assert [r.stdout for r in rs] == [b"0\n", b"1\n", b"2\n"]
    assert all(r.outcome == "stored" for r in rs)
    assert elapsed < 1.3, elapsed  # three 0.5 s runs at once, not in a row
    during = [t for t in ticks if t0 < t < t0 + 0.5]
    assert len(during) >= 5, ticks  # the loop kept ticking

    async def again():
        return await asyncio.gather(*(
            store.stage("arun", argv=["sh", "-c", "sleep 0.5; echo %d" % i],
                        params={"i": str(i)}, workdir=str(work)).arun()
            for i in range(3)))

    t0 = time.monotonic()
    assert all(r.hit for r in asyncio.run(again()))
    assert time.monotonic() - t0 < 0.5


NESTED = r"""
import asyncio, sys
import arca
s = arca.Store(sys.argv[1], tiers=[])

@s.cached()
async def inner(i):
    await asyncio.sleep(0.01)
    return i

@s.cached()
async def outer(i):
    # an async computation that itself needs the loop's executor
    v = await inner(i)
    return v + await asyncio.to_thread(lambda: 1)

async def main():
    # more tasks than any default executor has workers (min(32, cpus + 4))
    return await asyncio.gather(*(outer(i) for i in range(40)))

print(sum(asyncio.run(main())))
"""


def test_async_fn_needing_the_executor_does_not_deadlock(store_dir):
    """An async def fn that awaits another cached call (or to_thread)
    while 40 tasks run: the lease holders must not take every executor
    worker and wait on coroutines that need one."""
    import subprocess
    import sys
    try:
        p = subprocess.run([sys.executable, "-c", NESTED, store_dir],
                           capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: 40 nested async cached calls did not end "
                    "in 20 s")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"%d\n" % (sum(range(40)) + 40)


def _child_aget(store, out):
    v = asyncio.run(store.aget_or_compute("fork-aget", lambda: "child"))
    with open(out, "w") as f:
        f.write(v)


def test_aget_or_compute_in_forked_child(store, tmp_path):
    """The parent's idle worker threads do not exist in a forked child:
    its aget_or_compute must start its own, not wait forever."""
    assert asyncio.run(store.aget_or_compute("warm", lambda: 1)) == 1
    time.sleep(0.2)  # its worker thread is idle by now
    out = str(tmp_path / "child.txt")
    p = multiprocessing.get_context("fork").Process(
        target=_child_aget, args=(store, out))
    p.start()
    p.join(15)
    if p.exitcode is None:
        p.kill()
        p.join()
        pytest.fail("the forked child's aget_or_compute hung")
    assert p.exitcode == 0
    with open(out) as f:
        assert f.read() == "child"
