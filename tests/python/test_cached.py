"""@store.cached: memoised Python functions."""
import asyncio
import inspect
import os

import pytest

import arca


def test_same_args_hit_different_args_miss(store):
    calls = []

    @store.cached()
    def add(a, b=2, *, scale=1):
        calls.append((a, b, scale))
        return {"sum": (a + b) * scale}

    assert add(1) == {"sum": 3}
    assert add(1) == {"sum": 3}
    assert add(1, 2) == {"sum": 3}          # defaults applied
    assert add(a=1, b=2, scale=1) == {"sum": 3}
    assert calls == [(1, 2, 1)]
    assert add(2) == {"sum": 4}
    assert add(1, 3) == {"sum": 4}
    assert add(1, scale=10) == {"sum": 30}
    assert len(calls) == 4
    assert add.key(1) == add.key(1, b=2) == add.key(a=1)
    assert len({add.key(1), add.key(2), add.key(1, 3),
                add.key(1, scale=10)}) == 4
    assert len(add.key(1)) == 64


def test_json_arguments_kinds(store):
    calls = []

    @store.cached()
    def f(x):
        calls.append(x)
        return x

    for v in ({"b": [1, 2.5, None, True], "a": "é"}, [1, "1"], "1", 1):
        assert f(v) == v
    assert len(calls) == 4   # "1" and 1 are different arguments
    assert f({"a": "é", "b": [1, 2.5, None, True]}) == \
        {"b": [1, 2.5, None, True], "a": "é"}
    assert len(calls) == 4   # dict order does not matter (canonical JSON)


def test_unserialisable_argument_is_a_type_error(store):
    @store.cached()
    def f(x):
        return 1

    with pytest.raises(TypeError):
        f(object())


def test_input_content_change_misses(store, tmp_path):
    calls = []
    audio = tmp_path / "audio.bin"
    audio.write_bytes(b"first")

    @store.cached(stage="read-input")
    def size(path: arca.Input):
        calls.append(1)
        with open(os.fspath(path), "rb") as f:
            return len(f.read())

    assert size(arca.Input(str(audio))) == 5
    assert size(arca.Input(str(audio))) == 5
    assert len(calls) == 1
    audio.write_bytes(b"second!")
    assert size(arca.Input(str(audio))) == 7
    assert len(calls) == 2
    audio.write_bytes(b"first")
    assert size(arca.Input(str(audio))) == 5
    assert len(calls) == 2   # back to the first content: a hit
    with pytest.raises(FileNotFoundError):
        size(arca.Input(str(tmp_path / "absent.bin")))


def test_version_change_misses_and_same_version_hits(store):
    calls = []

    @store.cached(stage="versioned", version="1")
    def f(x):
        calls.append("f1")
        return "from f1"

    assert f(1) == "from f1"

    # another body, same stage and version: the source is not in the key
    @store.cached(stage="versioned", version="1")
    def g(x):
        calls.append("g1")
        return "from g1"

    assert g(1) == "from f1"
    assert calls == ["f1"]

    @store.cached(stage="versioned", version="2")
    def h(x):
        calls.append("h2")
        return "from h2"

    assert h(1) == "from h2"
    assert calls == ["f1", "h2"]
    assert f.key(1) == g.key(1) != h.key(1)


def test_source_change_misses_without_version(store):
    calls = []

    @store.cached(stage="by-source")
    def f(x):
        calls.append("f")
        return "f"

    assert f(1) == "f"

    @store.cached(stage="by-source")
    def f(x):  # noqa: F811 - another source, same name
        calls.append("f2")
        return "f2"

    assert f(1) == "f2"
    assert calls == ["f", "f2"]


def test_default_stage_name(store, cli):
    @store.cached()
    def named(x):
        return x

    named(1)
    stages = {e["stage"] for e in cli.ls()}
    assert stages == {"py:%s.%s" % (named.__module__, named.__qualname__)}


def test_bytes_and_json_results_roundtrip(store):
    calls = []
    blob = os.urandom(70_000)

    @store.cached()
    def produce(kind):
        calls.append(kind)
        return {"bytes": blob, "json": {"n": 1, "l": [1, 2], "s": "x"},
                "list": [1, {"a": None}], "str": "text", "int": 7,
                "float": 1.5, "none": None, "empty": b""}[kind]

    kinds = ["bytes", "json", "list", "str", "int", "float", "none", "empty"]
    first = [produce(k) for k in kinds]
    second = [produce(k) for k in kinds]
    assert calls == kinds
    assert first == second
    assert isinstance(second[0], bytes) and second[0] == blob
    assert second[1] == {"n": 1, "l": [1, 2], "s": "x"}
    assert isinstance(second[4], int) and isinstance(second[5], float)
    assert second[6] is None and second[7] == b""


def test_exception_is_not_cached(store):
    calls = []

    @store.cached()
    def flaky(x):
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first time")
        return "ok"

    with pytest.raises(RuntimeError, match="first time"):
        flaky(1)
    assert flaky(1) == "ok" and flaky(1) == "ok"
    assert calls == [1, 1]


def test_tags_and_clear(store):
    calls = []

    @store.cached(stage="tagged", tags=("mytag",))
    def f(x):
        calls.append(x)
        return x

    f(1)
    f(1)
    assert calls == [1]
    n, _freed = store.clear(tag="mytag")
    assert n == 1
    f(1)
    assert calls == [1, 1]


def test_async_def_wrapper(store):
    calls = []

    @store.cached()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.1)
        return {"x": x}

    assert inspect.iscoroutinefunction(slow)

    async def main():
        a = await slow(1)
        b = await slow(1)
        c = await asyncio.gather(*(slow(2) for _ in range(5)))
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a == b == {"x": 1}
    assert c == [{"x": 2}] * 5
    assert calls == [1, 2]
