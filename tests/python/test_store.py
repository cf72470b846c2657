"""arca.Store against a real store in a temporary directory (pytest)."""
import glob
import hashlib
import os
import threading

import pytest

import arca


@pytest.fixture
def store(tmp_path):
    with arca.Store(str(tmp_path / "store")) as s:
        yield s


def test_put_get_roundtrip(store):
    data = os.urandom(300_000)  # a file blob (above the inline threshold)
    d = store.put(data)
    assert d == hashlib.sha256(data).hexdigest()
    assert store.get(d) == data


def test_put_file_get_file(store, tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(b"x" * 5000)
    d = store.put_file(src)
    assert d == hashlib.sha256(b"x" * 5000).hexdigest()
    out = tmp_path / "out.bin"
    store.get_file(d, str(out))
    assert out.read_bytes() == b"x" * 5000


def test_missing_is_not_found(store):
    with pytest.raises(arca.NotFound) as e:
        store.get("0" * 64)
    assert e.value.code == -1 and "not found" in str(e.value)


def test_bad_digest_is_invalid(store):
    with pytest.raises(arca.Invalid):
        store.get("not a digest")


def test_flipped_byte_is_corrupt(tmp_path):
    path = str(tmp_path / "store")
    data = os.urandom(300_000)
    with arca.Store(path) as s:
        d = s.put(data)
    (blob,) = glob.glob(os.path.join(path, "blobs", d[:2], d))
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 1]))
    with arca.Store(path) as s:
        with pytest.raises(arca.Corrupt):
            s.get(d)
        with pytest.raises(arca.NotFound):  # quarantined, then a miss
            s.get(d)


def test_stats_and_verify(store):
    store.put(b"hello")
    checked, corrupt = store.verify()
    assert checked >= 1 and corrupt == 0
    assert isinstance(store.stats(), dict)


def test_threads_share_a_store(store):
    errors = []

    def work(i):
        try:
            for j in range(50):
                data = b"%d-%d" % (i, j)
                assert store.get(store.put(data)) == data
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_closed_store_refuses(tmp_path):
    s = arca.Store(str(tmp_path / "s"))
    s.close()
    with pytest.raises(arca.Invalid):
        s.put(b"x")
