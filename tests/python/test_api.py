"""examples/python/api.py through FastAPI's TestClient (httpx), with the real
background worker threads and the real tools on a 3 s clip (pytest).

PocketSphinx runs 3 times in all: the first job, the two concurrent jobs on
a fresh store (once for both), and the fresh retry.
"""
import functools
import http.server
import shutil
import tempfile
import threading
import time

import pytest

from _transcribe_support import CLIP, Tools, plain_hypothesis

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import api  # noqa: E402  (examples/python, put on sys.path by _transcribe_support)

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP}: missing "
                                "(pocketsphinx-testdata)")


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    t = Tools(base)
    (base / "tmp").mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("PATH", t.path())
    mp.setenv("TMPDIR", str(base / "tmp"))
    mp.setattr(tempfile, "tempdir", str(base / "tmp"))
    t.base = base
    t.audio = base / "talk.wav"
    shutil.copyfile(CLIP, t.audio)
    yield t
    mp.undo()


def client_for(tools, name, workers=2):
    app = api.create_app(str(tools.base / name / "store"),
                         results=str(tools.base / name / "results"), workers=workers)
    return TestClient(app)


def wait(client, job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.05)


def submit(client, audio):
    r = client.post("/jobs", json={"audio": str(audio)})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    return r.json()["id"]


@pytest.fixture(scope="module")
def served(tools):
    """One app for the sequential tests; its first job computed everything."""
    with client_for(tools, "main") as client:
        before = tools.runs
        first = wait(client, submit(client, tools.audio))
        yield client, first, before


def test_first_job_computes(tools, served):
    client, job, before = served
    assert job["status"] == "done", job
    assert job["transcription_cached"] is False and job["diarization_cached"] is False
    assert job["format"] == "md" and job["result"].endswith(f"/{job['id']}/talk.md")
    md = open(job["result"]).read()
    assert "**speaker1**:" in md and plain_hypothesis(md).startswith("he was not")
    assert tools.runs == before + 1


def test_second_job_is_cached(tools, served):
    client, first, _ = served
    before = tools.runs
    job = wait(client, submit(client, tools.audio))
    assert job["status"] == "done", job
    assert job["transcription_cached"] is True and job["diarization_cached"] is True
    assert all(s["cached"] for s in job["stages"].values()), job["stages"]
    assert tools.runs == before
    assert open(job["result"]).read() == open(first["result"]).read()
    stats = client.get("/cache/stats").json()
    by_stage = {s["stage"]: s for s in stats["stages"]}
    assert by_stage["transcribe"]["hits"] >= 1 and by_stage["transcribe"]["misses"] == 1


def test_url_job(tools, served):
    """An http URL is fetched; the same bytes hit the file's entries."""
    client, first, _ = served
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tools.base))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        before = tools.runs
        job = wait(client, submit(client, f"{url}/talk.wav"))
        assert job["status"] == "done" and job["transcription_cached"] is True, job
        assert open(job["result"]).read() == open(first["result"]).read()
        assert tools.runs == before
        job = wait(client, submit(client, f"{url}/missing.wav"))
        assert job["status"] == "failed" and "404" in job["error"], job
    finally:
        server.shutdown()
        server.server_close()
        t.join()


def test_bad_requests(served, tools):
    client = served[0]
    r = client.post("/jobs", json={"audio": str(tools.base / "missing.wav")})
    assert r.status_code == 400 and "no such file" in r.json()["detail"]
    assert client.get("/jobs/nosuchjob").status_code == 404
    assert client.post("/jobs/nosuchjob/retry").status_code == 404
    assert client.post("/jobs", json={}).status_code == 422


def test_retry_fresh_recomputes(tools, served):
    client, first, _ = served
    before = tools.runs
    r = client.post(f"/jobs/{first['id']}/retry", params={"fresh": "true"})
    assert r.status_code == 202 and r.json()["fresh"] is True
    job = wait(client, first["id"])
    assert job["status"] == "done" and job["attempts"] == 2, job
    assert job["cleared"] == 3  # transcode, transcribe, diarize
    assert job["transcription_cached"] is False and job["diarization_cached"] is False
    assert tools.runs == before + 1
    # A plain retry hits again.
    r = client.post(f"/jobs/{first['id']}/retry")
    job = wait(client, first["id"])
    assert job["transcription_cached"] is True and job["cleared"] is None
    assert tools.runs == before + 1


def test_two_jobs_at_once_compute_each_stage_once(tools):
    with client_for(tools, "concurrent", workers=2) as client:
        before = tools.runs
        ids = [submit(client, tools.audio), submit(client, tools.audio)]
        jobs = [wait(client, i) for i in ids]
    assert all(j["status"] == "done" for j in jobs), jobs
    # They ran at the same time: each started before the other finished.
    assert max(j["started"] for j in jobs) < min(j["finished"] for j in jobs), jobs
    assert tools.runs == before + 1  # PocketSphinx ran once for both
    for stage in ("transcode", "transcribe", "diarize"):
        cached = sorted(j["stages"][stage]["cached"] for j in jobs)
        assert cached == [False, True], (stage, jobs)
    assert open(jobs[0]["result"]).read() == open(jobs[1]["result"]).read()
