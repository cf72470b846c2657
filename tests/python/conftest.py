"""Shared fixtures of tests/python: a store in the test's temporary
directory, and the `arca` CLI of the build under test (ARCA_BIN, which
tests/python/run.sh exports)."""
import json
import os
import subprocess

import pytest

import arca


@pytest.fixture(autouse=True)
def no_arca_environment(monkeypatch, tmp_path):
    """The caller's ARCA_* settings (ARCA_DIR, ARCA_TIERS,
    ARCA_LOCK_TIMEOUT, ...) are not the tests'."""
    for name in list(os.environ):
        if name.startswith("ARCA_") and name != "ARCA_BIN":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def store_dir(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def store(store_dir):
    with arca.Store(store_dir, tiers=[]) as s:
        yield s


@pytest.fixture
def work(tmp_path):
    """A working directory for stages (inputs, outputs), not the cwd."""
    d = tmp_path / "work"
    d.mkdir()
    return d


class Cli:
    """The build's `arca` binary, on one store, local tier only."""

    def __init__(self, binary, store_dir):
        self.binary = binary
        self.store_dir = store_dir

    def __call__(self, *args, cwd=None, check=True):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ARCA_")}
        proc = subprocess.run(
            [self.binary, "--store", self.store_dir, "--no-remote", *args],
            cwd=cwd, env=env, capture_output=True, stdin=subprocess.DEVNULL,
            timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(
                "arca %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                          proc.stderr.decode(errors="replace")))
        return proc

    def ls(self, stage=None):
        args = ["ls", "--json"] + (["--stage", stage] if stage else [])
        return json.loads(self(*args).stdout)


@pytest.fixture
def cli(store_dir):
    binary = os.environ.get("ARCA_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("ARCA_BIN: the arca CLI of the build is not set")
    return Cli(binary, store_dir)
