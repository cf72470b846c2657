"""examples/python/orchestrator.py on a real 3 s clip: ffmpeg, PocketSphinx,
diarize-mfcc and format-md, through its command line (pytest).

The tests share one store, primed by a cold run (module fixture), and run in
file order; the last one clears the audio's entries. PocketSphinx runs 3
times in all: cold, --no-cache, after cache clear.
"""
import os
import shutil
import subprocess
import sys

import pytest

import arca
from _transcribe_support import CLIP, ORCHESTRATOR, Tools, plain_hypothesis

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP}: missing "
                                "(pocketsphinx-testdata)")


class Env:
    def __init__(self, base):
        self.base = base
        self.tools = Tools(base)
        self.store = base / "store"
        self.audio = base / "talk.wav"
        shutil.copyfile(CLIP, self.audio)
        (base / "tmp").mkdir()
        self.env = dict(os.environ, PATH=self.tools.path(), TMPDIR=str(base / "tmp"))
        self.env.pop("ARCA_DIR", None)

    def run(self, *args, outdir=None, store=True, check=True):
        argv = [sys.executable, str(ORCHESTRATOR)]
        if store:
            argv += ["--store", str(self.store)]
        argv += list(args)
        if outdir is not None:
            d = self.base / outdir
            d.mkdir(exist_ok=True)
            argv += ["-o", str(d)]
        p = subprocess.run(argv, cwd=self.base, env=self.env, capture_output=True,
                           text=True, timeout=300)
        if check:
            assert p.returncode == 0, f"{argv} exited {p.returncode}:\n{p.stdout}{p.stderr}"
        return p


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("orchestrator"))


@pytest.fixture(scope="module")
def cold(env):
    p = env.run(str(env.audio), outdir="cold")
    return p, (env.base / "cold" / "talk.md").read_text()


def test_cold_run_computes_every_stage(env, cold):
    p, md = cold
    lines = p.stdout.splitlines()
    for stage in ("transcode", "transcribe", "diarize"):
        assert any(l.startswith(f"{stage}: computed ") for l in lines), p.stdout
    assert lines[-1] == f"wrote {env.base}/cold/talk.md"
    assert env.tools.runs == 1
    assert md.startswith("# Transcript: talk.wav\n")
    assert "1 speaker turn" in md and "**speaker1**:" in md
    # What PocketSphinx heard in this clip ("he was not an illness...").
    assert plain_hypothesis(md).startswith("he was not")


def test_warm_run_skips_pocketsphinx(env, cold):
    before = env.tools.runs
    p = env.run(str(env.audio), outdir="warm")
    for stage in ("transcode", "transcribe", "diarize"):
        assert f"\n{stage}: cached " in "\n" + p.stdout, p.stdout
    assert env.tools.runs == before  # the command did not run
    assert (env.base / "warm" / "talk.md").read_text() == cold[1]


def test_failing_diarizer_falls_back_to_the_cached_transcript(env, cold):
    before = env.tools.runs
    p = env.run("--diarizer", "diarize-broken", str(env.audio), outdir="broken")
    assert "\ntranscribe: cached " in "\n" + p.stdout
    assert "diarize: failed" in p.stdout and "did not write RTTM" in p.stdout
    assert "falling back to the cached transcript" in p.stdout
    out = env.base / "broken"
    assert not (out / "talk.md").exists()
    txt = (out / "talk.txt").read_text()
    assert p.stdout.splitlines()[-1] == \
        f"wrote {out}/talk.txt (plain transcript: diarization failed)"
    assert txt.lower().split() == plain_hypothesis(cold[1]).split()
    assert env.tools.runs == before  # the transcript came from the cache
    # The failure is not cached: once the diarizer works, the .md is back
    # (from the cache) and the stale .txt is gone.
    p = env.run(str(env.audio), outdir="broken")
    assert "\ndiarize: cached " in "\n" + p.stdout
    assert (out / "talk.md").read_text() == cold[1] and not (out / "talk.txt").exists()


def test_no_cache_runs_everything_without_a_store(env, cold):
    before = env.tools.runs
    nostore = env.base / "nostore"
    p = env.run("--store", str(nostore), "--no-cache", str(env.audio), outdir="nocache",
                store=False)
    assert env.tools.runs == before + 1
    for stage in ("transcode", "transcribe", "diarize"):
        assert f"\n{stage}: computed (" in "\n" + p.stdout, p.stdout
    assert not nostore.exists()
    assert (env.base / "nocache" / "talk.md").read_text() == cold[1]


def test_cache_stats(env, cold):
    p = env.run("cache", "stats")
    rows = {l.split()[0]: l.split() for l in p.stdout.splitlines()[1:]}
    assert set(rows) >= {"transcode", "transcribe", "diarize", "all"}, p.stdout
    assert int(rows["transcribe"][1]) >= 2 and int(rows["transcribe"][2]) == 1


def test_usage_errors(env):
    p = env.run("cache", "frobnicate", check=False)
    assert p.returncode == 2 and "cache stats" in p.stderr
    p = env.run(str(env.base / "missing.wav"), check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == f"orchestrator.py: {env.base}/missing.wav: no such file"
    (env.base / "noise.wav").write_text("not audio\n")
    p = env.run(str(env.base / "noise.wav"), outdir="noise", check=False)
    assert p.returncode == 1 and "transcode: failed " in p.stdout
    assert p.stderr.startswith(f"orchestrator.py: transcode failed for {env.base}/noise.wav: "
                               "exit status 1: "), p.stderr
    assert os.listdir(env.base / "noise") == []


def test_cache_clear_removes_that_audios_entries(env, cold):
    # Another audio's entry (a cheap stage under another audio tag) survives.
    other = "0" * 64
    (env.base / "a.txt").write_text("a\n")
    with arca.Store(str(env.store)) as s:
        st = s.stage("other", argv=["cp", "a.txt", "b.txt"], inputs=["a.txt"],
                     outputs=["b.txt"], tags=("audio:" + other,), workdir=str(env.base))
        assert st.run().ok
    p = env.run("cache", "clear", str(env.audio))
    assert p.stdout.startswith("removed 3 entries ("), p.stdout
    assert env.run("cache", "clear", str(env.audio)).stdout.startswith("removed 0 entries")
    with arca.Store(str(env.store)) as s:
        assert s.stage("other", argv=["cp", "a.txt", "b.txt"], inputs=["a.txt"],
                       outputs=["b.txt"], tags=("audio:" + other,),
                       workdir=str(env.base)).lookup() is not None
    before = env.tools.runs
    p = env.run(str(env.audio), outdir="cleared")
    assert "\ntranscribe: computed " in "\n" + p.stdout
    assert env.tools.runs == before + 1
    assert (env.base / "cleared" / "talk.md").read_text() == cold[1]
