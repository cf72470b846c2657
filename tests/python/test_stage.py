"""arca.Store.stage: key, lookup, commit, run, get_or_compute; the same key
as `arca run`; secrets never stored; the exceptions per error code."""
import glob
import hashlib
import json
import os
import subprocess
import uuid

import pytest

import arca

HEX = set("0123456789abcdef")
SCRIPT = "cat in.txt > out.txt; echo made; echo x >> ../runs.log"


def is_key(k):
    return isinstance(k, str) and len(k) == 64 and set(k) <= HEX


def runs(work):
    log = work.parent / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


# --- key, lookup, commit -------------------------------------------------

def test_key_is_stable_and_covers_inputs_params(store, work):
    (work / "a.txt").write_text("one")
    st = store.stage("k", argv=["true"], inputs=["a.txt"], params={"p": "1"},
                     outputs=["o.txt"], workdir=str(work))
    k1 = st.key
    assert is_key(k1) and st.key == k1 and st.name == "k"
    same = store.stage("k", argv=["true"], inputs=["a.txt"],
                       params={"p": "1"}, outputs=["o.txt"],
                       workdir=str(work))
    assert same.key == k1
    # lazy: the inputs are digested at each call
    (work / "a.txt").write_text("two")
    k2 = st.key
    assert k2 != k1
    assert store.stage("k", argv=["true"], inputs=["a.txt"],
                       params={"p": "2"}, outputs=["o.txt"],
                       workdir=str(work)).key not in (k1, k2)
    assert store.stage("k2", argv=["true"], inputs=["a.txt"],
                       params={"p": "1"}, outputs=["o.txt"],
                       workdir=str(work)).key not in (k1, k2)
    assert store.stage("k", argv=["true"], inputs=["a.txt"],
                       params={"p": "1"}, outputs=["o.txt"], tool="v1",
                       workdir=str(work)).key not in (k1, k2)


def test_lookup_commit_restore(store, work):
    (work / "in.txt").write_bytes(b"input")
    st = store.stage("lc", inputs=["in.txt"], outputs=["out.bin"],
                     tool="v1", workdir=str(work))
    assert st.lookup() is None
    payload = os.urandom(200_000)
    (work / "out.bin").write_bytes(payload)
    res = st.commit(exit_status=0, duration_ms=42, stdout=b"so", stderr=b"se")
    assert res.key == st.key and res.stage == "lc"
    assert res.exit_status == 0 and res.duration_ms == 42
    [out] = res.outputs
    assert out.path == "out.bin" and out.size == len(payload)
    assert out.digest == hashlib.sha256(payload).hexdigest()
    (work / "out.bin").unlink()
    hit = st.lookup()
    assert hit is not None and hit.hit and hit.key == st.key
    assert (work / "out.bin").read_bytes() == payload
    assert hit.stdout == b"so" and hit.stderr == b"se"
    # a changed input is a miss
    (work / "in.txt").write_bytes(b"other")
    assert st.lookup() is None


def test_commit_without_output_fails(store, work):
    st = store.stage("nooutput", outputs=["never.txt"], tool="v1",
                     workdir=str(work))
    with pytest.raises((FileNotFoundError, arca.Error)):
        st.commit()
    assert st.lookup() is None


# --- run ---------------------------------------------------------------

def test_run_stores_then_hits_and_replays(store, work):
    (work / "in.txt").write_text("hello\n")
    st = store.stage("r", argv=["sh", "-c", SCRIPT], inputs=["in.txt"],
                     outputs=["out.txt"], workdir=str(work))
    r1 = st.run(capture_output=True)
    assert r1.outcome == "stored" and r1.ok and not r1.hit
    assert r1.exit_status == 0 and r1.key == st.key
    assert r1.stdout == b"made\n" and runs(work) == 1
    (work / "out.txt").unlink()
    r2 = st.run(capture_output=True)
    assert r2.outcome == "hit" and r2.hit and r2.ok
    assert r2.stdout == b"made\n" and runs(work) == 1
    assert (work / "out.txt").read_text() == "hello\n"
    r3 = st.run(no_cache=True, stdout=arca.DEVNULL)
    assert not r3.hit and runs(work) == 2
    r4 = st.run(refresh=True, stdout=arca.DEVNULL)
    assert not r4.hit and r4.outcome == "stored" and runs(work) == 3


def test_run_failure_stores_nothing(store, work):
    st = store.stage("fail", argv=["sh", "-c", "echo x > o.txt; exit 3"],
                     outputs=["o.txt"], workdir=str(work))
    r = st.run(stdout=arca.DEVNULL)
    assert r.outcome == "failed" and r.exit_status == 3 and not r.ok
    assert st.lookup() is None
    r = store.stage("miss", argv=["true"], outputs=["o2.txt"],
                    workdir=str(work)).run()
    assert r.outcome == "output_missing" and not r.ok


def test_run_stdout_to_file(store, work, tmp_path):
    st = store.stage("fo", argv=["sh", "-c", "echo to-file"], tool="v1",
                     workdir=str(work))
    with open(tmp_path / "o1", "wb") as f:
        st.run(stdout=f)
    with open(tmp_path / "o2", "wb") as f:
        assert st.run(stdout=f.fileno()).hit
    assert (tmp_path / "o1").read_bytes() == b"to-file\n"
    assert (tmp_path / "o2").read_bytes() == b"to-file\n"


# --- get_or_compute ------------------------------------------------------

def test_get_or_compute(store, work):
    calls = []

    def fn():
        calls.append(1)
        (work / "o.txt").write_text("computed")
        return {"answer": 42, "list": [1, "two"]}

    st = store.stage("goc", outputs=["o.txt"], params={"a": "1"},
                     workdir=str(work))
    assert st.get_or_compute(fn) == {"answer": 42, "list": [1, "two"]}
    assert st.computed and len(calls) == 1
    (work / "o.txt").unlink()
    assert st.get_or_compute(fn) == {"answer": 42, "list": [1, "two"]}
    assert not st.computed and len(calls) == 1
    assert (work / "o.txt").read_text() == "computed"
    assert sorted(os.listdir(work)) == ["o.txt"]  # the value is no file
    # the Store shorthand is the same entry
    assert store.get_or_compute("goc", fn, outputs=["o.txt"],
                                params={"a": "1"},
                                workdir=str(work)) == {"answer": 42,
                                                       "list": [1, "two"]}
    assert len(calls) == 1


def test_get_or_compute_bytes_and_none(store):
    blob = os.urandom(100_000)
    assert store.get_or_compute("b", lambda: blob) == blob
    got = store.get_or_compute("b", lambda: b"not this")
    assert got == blob and isinstance(got, bytes)
    assert store.get_or_compute("n", lambda: None) is None
    st = store.stage("n")
    assert st.get_or_compute(lambda: pytest.fail("recomputed")) is None
    assert not st.computed


def test_callback_raising_stores_nothing(store, work, cli):
    class Boom(Exception):
        pass

    def bad():
        (work / "o.txt").write_text("half")
        raise Boom("inside fn")

    st = store.stage("raise", outputs=["o.txt"], workdir=str(work))
    with pytest.raises(Boom, match="inside fn"):
        st.get_or_compute(bad)
    assert st.lookup() is None
    assert cli.ls() == []
    calls = []

    def good():
        calls.append(1)
        (work / "o.txt").write_text("whole")
        return 1

    assert st.get_or_compute(good) == 1 and st.computed and calls == [1]


# --- the same key as `arca run` ------------------------------------------

VARIANTS = {
    "plain": ([], {}),
    "params": (["--param", "k=v", "--param", "a=1"],
               {"params": {"a": "1", "k": "v"}}),
    "tool": (["--tool-version", "v1"], {"tool": "v1"}),
    "secret": (["--secret-param", "tok=s3cr3t"],
               {"secret_params": {"tok": "s3cr3t"}}),
    "env": (["--env", "ARCA_PYTEST_ENV"], {"env": ("ARCA_PYTEST_ENV",)}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_key_equals_arca_run(store, work, cli, monkeypatch, variant):
    monkeypatch.setenv("ARCA_PYTEST_ENV", "e1")
    extra, kw = VARIANTS[variant]
    (work / "in.txt").write_text("same input\n")

    def cli_run(stage):
        # Cli strips ARCA_* from the environment: hand this one back
        return subprocess.run(
            ["env", "ARCA_PYTEST_ENV=e1", cli.binary, "--store",
             cli.store_dir, "--no-remote", "run", "--stage", stage,
             "--in", "in.txt", "--out", "out.txt", *extra,
             "--", "sh", "-c", SCRIPT],
            cwd=work, capture_output=True, stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items()
                 if not k.startswith("ARCA_")}, timeout=60)

    def py_stage(stage):
        return store.stage(stage, argv=["sh", "-c", SCRIPT],
                           inputs=["in.txt"], outputs=["out.txt"],
                           workdir=str(work), **kw)

    # Python stores, arca run hits
    st = py_stage("py-first")
    assert st.run(stdout=arca.DEVNULL).outcome == "stored"
    [entry] = cli.ls("py-first")
    assert entry["key"] == st.key
    (work / "out.txt").unlink()
    p = cli_run("py-first")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"made\n" and runs(work) == 1
    assert (work / "out.txt").read_text() == "same input\n"
    [entry] = cli.ls("py-first")
    assert entry["hits"] == 1

    # arca run stores, Python hits
    p = cli_run("cli-first")
    assert p.returncode == 0, p.stderr
    assert runs(work) == 2
    st = py_stage("cli-first")
    [entry] = cli.ls("cli-first")
    assert entry["key"] == st.key
    (work / "out.txt").unlink()
    r = st.run(capture_output=True)
    assert r.outcome == "hit" and r.stdout == b"made\n" and runs(work) == 2
    assert st.lookup().hit
    assert (work / "out.txt").read_text() == "same input\n"


def test_key_differs_from_arca_run_when_inputs_differ(store, work, cli):
    """The guard of the test above: a different param is another key."""
    (work / "in.txt").write_text("same input\n")
    cli("run", "--stage", "d", "--in", "in.txt", "--out", "out.txt",
        "--param", "k=v", "--", "sh", "-c", SCRIPT, cwd=work)
    st = store.stage("d", argv=["sh", "-c", SCRIPT], inputs=["in.txt"],
                     outputs=["out.txt"], params={"k": "w"},
                     workdir=str(work))
    assert st.key != cli.ls("d")[0]["key"] and st.lookup() is None


# --- secrets -------------------------------------------------------------

def all_store_bytes(store_dir):
    for root, _dirs, files in os.walk(store_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    yield path, f.read()
            except OSError:
                pass


def test_secret_params_absent_from_store(store, store_dir, work):
    secret = "sekrit-" + uuid.uuid4().hex
    (work / "in.txt").write_text("x")
    st = store.stage("sec", argv=["sh", "-c", "cat in.txt > out.txt"],
                     inputs=["in.txt"], outputs=["out.txt"],
                     secret_params={"token": secret}, workdir=str(work))
    assert st.run().outcome == "stored"
    st2 = store.stage("sec2", outputs=["o2.txt"], workdir=str(work),
                      secret_params={"token": secret}, params={"p": "q"})

    def fn():
        (work / "o2.txt").write_text("y")
        return {"v": 1}

    st2.get_or_compute(fn)
    assert st2.lookup() is not None
    # the secret enters the key: another value is another key
    other = store.stage("sec", argv=["sh", "-c", "cat in.txt > out.txt"],
                        inputs=["in.txt"], outputs=["out.txt"],
                        secret_params={"token": secret + "x"},
                        workdir=str(work))
    assert other.key != st.key and other.lookup() is None
    # index.db, its WAL, blobs, everything: with the store open, then closed
    files = dict(all_store_bytes(store_dir))
    assert any(p.endswith("index.db") for p in files), sorted(files)
    for path, data in files.items():
        assert secret.encode() not in data, path
    store.close()
    n = 0
    for path, data in all_store_bytes(store_dir):
        n += 1
        assert secret.encode() not in data, path
        assert secret[7:].encode() not in data, path
    assert n > 0


def test_secret_grep_can_see_a_plain_param(store, store_dir, work):
    """The guard of the test above: a plain param's value is in the store."""
    plain = "plain-" + uuid.uuid4().hex
    st = store.stage("pl", outputs=["o.txt"], params={"token": plain},
                     workdir=str(work))

    def fn():
        (work / "o.txt").write_text("y")

    st.get_or_compute(fn)
    store.close()
    assert any(plain.encode() in data
               for _p, data in all_store_bytes(store_dir))


# --- errors ---------------------------------------------------------------

def flip_byte(path, offset=1000):
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 1]))


def test_corrupt_blob(store_dir):
    data = os.urandom(300_000)
    with arca.Store(store_dir, tiers=[]) as s:
        d = s.put(data)
    (blob,) = glob.glob(os.path.join(store_dir, "blobs", "**", d),
                        recursive=True)
    flip_byte(blob)
    with arca.Store(store_dir, tiers=[]) as s:
        with pytest.raises(arca.Corrupt) as e:
            s.get(d)
        assert e.value.code == -3 and isinstance(e.value, arca.Error)
        assert str(e.value)


def test_corrupt_output_blob_is_not_restored(store, store_dir, work):
    payload = os.urandom(300_000)

    def fn():
        (work / "o.bin").write_bytes(payload)
        return "v"

    st = store.stage("co", outputs=["o.bin"], workdir=str(work))
    st.get_or_compute(fn)
    d = hashlib.sha256(payload).hexdigest()
    (blob,) = glob.glob(os.path.join(store_dir, "blobs", "**", d),
                        recursive=True)
    flip_byte(blob)
    (work / "o.bin").unlink()
    # never the corrupt bytes: a miss, recomputed
    assert st.get_or_compute(fn) == "v" and st.computed
    assert (work / "o.bin").read_bytes() == payload
    (work / "o.bin").unlink()
    assert st.lookup() is not None  # stored again, sound
    assert (work / "o.bin").read_bytes() == payload


def test_lookup_of_corrupt_output_is_a_miss(store, store_dir, work):
    payload = os.urandom(300_000)
    (work / "o.bin").write_bytes(payload)
    st = store.stage("lco", outputs=["o.bin"], tool="v1", workdir=str(work))
    st.commit()
    d = hashlib.sha256(payload).hexdigest()
    (blob,) = glob.glob(os.path.join(store_dir, "blobs", "**", d),
                        recursive=True)
    flip_byte(blob)
    (work / "o.bin").unlink()
    assert st.lookup() is None
    assert not (work / "o.bin").exists()
    assert store.verify()[1] == 0  # quarantined already


def test_corrupt_value_blob_is_recomputed(store, store_dir):
    """A stored value whose blob went bad is a miss, as a corrupt output
    is: fn runs again, the caller never sees the corruption."""
    value = "v" * 300_000  # a file blob, not inline
    calls = []

    def fn():
        calls.append(1)
        return value

    st = store.stage("cv")
    assert st.get_or_compute(fn) == value
    d = hashlib.sha256(json.dumps(value).encode()).hexdigest()
    (blob,) = glob.glob(os.path.join(store_dir, "blobs", "**", d),
                        recursive=True)
    flip_byte(blob)
    assert st.get_or_compute(fn) == value
    assert st.computed and len(calls) == 2
    assert st.get_or_compute(fn) == value and not st.computed


def test_full_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                        str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip("mount tmpfs not permitted: %s" % p.stderr.decode().strip())
    try:
        with arca.Store(str(mnt / "store"), tiers=[]) as s:
            s.put(b"small")
            with pytest.raises(arca.Full) as e:
                s.put(os.urandom(4 << 20))
            assert e.value.code == -6
            assert s.get(hashlib.sha256(b"small").hexdigest()) == b"small"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_bad_digest_invalid(store):
    for bad in ("xyz", "0" * 63, "g" * 64, ""):
        with pytest.raises(arca.Invalid) as e:
            store.get(bad)
        assert e.value.code == -8


def test_missing_not_found(store):
    with pytest.raises(arca.NotFound) as e:
        store.get("ab" * 32)
    assert e.value.code == -1


def test_command_not_found(store, work):
    st = store.stage("nf", argv=["arca-no-such-command-" + uuid.uuid4().hex],
                     tool="v1", workdir=str(work))
    with pytest.raises(arca.NotFound):
        st.run()
    with pytest.raises(arca.NotFound):
        store.stage("nf2", tool="v1", workdir=str(work)).run(
            [str(work / "absent-binary")])


def test_command_not_executable(store, work):
    (work / "script.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(work / "script.sh", 0o644)
    st = store.stage("ne", argv=["./script.sh"], tool="v1", workdir=str(work))
    with pytest.raises(arca.PermissionDenied) as e:
        st.run()
    assert e.value.code == -12


def test_wrong_types(store, work):
    with pytest.raises(TypeError, match="data"):
        store.put("a str, not bytes")
    with pytest.raises(TypeError, match="name"):
        store.stage(123).key
    with pytest.raises(TypeError, match="inputs"):
        store.stage("t", inputs=[3.5], workdir=str(work)).key
    with pytest.raises(TypeError, match="params"):
        store.stage("t", params=["k=v"], workdir=str(work)).key
    with pytest.raises(TypeError, match="argv"):
        store.stage("t", argv="echo hi", workdir=str(work)).key
    with pytest.raises(TypeError, match="fn"):
        store.stage("t").get_or_compute("not callable")


def test_missing_input_file(store, work):
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        store.stage("mi", inputs=["absent.txt"], workdir=str(work)).key
    with pytest.raises(FileNotFoundError):
        store.stage("mi", inputs=["absent.txt"], argv=["true"],
                    workdir=str(work)).run()
    with pytest.raises(FileNotFoundError):
        store.put_file(str(work / "nope.bin"))
    # an optional input may be absent
    st = store.stage("oi", optional_inputs=["absent.txt"], tool="v1",
                     workdir=str(work))
    k = st.key
    (work / "absent.txt").write_text("now here")
    assert st.key != k


def test_duplicate_input_name_exists(store, work):
    (work / "a").write_text("a")
    (work / "b").write_text("b")
    with pytest.raises(arca.Exists, match="'n'") as e:
        store.stage("dup", inputs=[("n", "a"), ("n", "b")], tool="v1",
                    workdir=str(work)).key
    assert e.value.code == -2


def test_get_or_compute_output_not_written(store, work):
    st = store.stage("nw", outputs=["promised.txt"], workdir=str(work))
    with pytest.raises(FileNotFoundError, match="promised.txt"):
        st.get_or_compute(lambda: {"v": 1})
    assert st.lookup() is None
    with pytest.raises(TypeError):  # not JSON-serialisable: nothing stored
        store.stage("nj", workdir=str(work)).get_or_compute(lambda: object())
    assert store.stage("nj", workdir=str(work)).lookup() is None


def test_store_options_errors(tmp_path):
    with pytest.raises(arca.Invalid, match="bogus"):
        arca.Store(str(tmp_path / "s"), max_size="bogus")
    with pytest.raises(TypeError, match="max_size"):
        arca.Store(str(tmp_path / "s"), max_size=True)
    with pytest.raises(TypeError, match="tiers"):
        arca.Store(str(tmp_path / "s"), tiers="http://127.0.0.1:1/")
    with pytest.raises(TypeError, match="path"):
        arca.Store(12)
    with arca.Store(str(tmp_path / "small"), max_size=100_000,
                    tiers=[]) as s:
        with pytest.raises(arca.Full, match="limit") as e:
            s.put(os.urandom(1_000_000))
        assert e.value.code == -6
        assert s.get(s.put(b"fits")) == b"fits"
