"""api.py: the seeds' transcription API on arca (FastAPI, a background worker).

    cd examples/python && ARCA_DIR=/tmp/store /usr/bin/python3 -m uvicorn api:app

    POST /jobs                      {"audio": "PATH or http(s) URL"} -> 202 {"id", "status"}
    GET  /jobs/{id}                 status, result path, transcription_cached, diarization_cached
    POST /jobs/{id}/retry?fresh=true  rerun it; fresh=true first removes that audio's entries
    GET  /cache/stats               the store's statistics (`arca stats --json`)

Jobs go on a queue; ARCA_API_WORKERS worker threads (default 2) take them
and run the TranscriptionOrchestrator (orchestrator.py) with the store,
ARCA_DIR (else arca's default). Two jobs for the same audio submitted at
once compute each stage once: arca.Store keeps one C handle per thread, and
a stage's lease makes the second worker wait for the first, then hit.
Transcripts go to ARCA_API_RESULTS/JOB_ID/ (default ./results); the
diarizer is ARCA_API_DIARIZER (default diarize-mfcc). Jobs live in memory.
"""
import os
import queue
import threading
import time
import uuid
from typing import Dict, List, Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import arca
from orchestrator import (DEFAULT_DIARIZER, OrchestratorError,
                          TranscriptionOrchestrator)


class JobIn(BaseModel):
    audio: str


class Job:
    """One transcription job; status: queued, running, done, failed."""

    def __init__(self, audio: str):
        self.id = uuid.uuid4().hex[:12]
        self.audio = audio
        self.status = "queued"
        self.result: Optional[str] = None
        self.format: Optional[str] = None
        self.degraded = False
        self.transcription_cached: Optional[bool] = None
        self.diarization_cached: Optional[bool] = None
        self.stages: Dict[str, dict] = {}
        self.error: Optional[str] = None
        self.audio_digest: Optional[str] = None
        self.attempts = 0
        self.fresh = False
        self.cleared: Optional[int] = None
        self.submitted = time.time()
        self.started: Optional[float] = None
        self.finished: Optional[float] = None

    def view(self) -> dict:
        return {k: getattr(self, k) for k in (
            "id", "audio", "status", "result", "format", "degraded",
            "transcription_cached", "diarization_cached", "stages", "error",
            "attempts", "cleared", "submitted", "started", "finished")}


class BackgroundWorker:
    """Worker threads that run queued jobs through the orchestrator.

    store: an open arca.Store, shared by the threads (one C handle per
    thread inside it). results: the directory under which each job gets
    its own JOB_ID/ directory.
    """

    def __init__(self, store: "arca.Store", results: str, *, workers: int = 2,
                 diarizer: str = DEFAULT_DIARIZER):
        self.store = store
        self.results = results
        self.orchestrator = TranscriptionOrchestrator(store, diarizer=diarizer)
        self.jobs: Dict[str, Job] = {}
        self.lock = threading.Lock()
        self.queue: "queue.Queue[Optional[Job]]" = queue.Queue()
        self.threads: List[threading.Thread] = [
            threading.Thread(target=self._loop, name=f"arca-worker-{i}", daemon=True)
            for i in range(workers)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()

    def submit(self, audio: str) -> Job:
        job = Job(audio)
        with self.lock:
            self.jobs[job.id] = job
        self.queue.put(job)
        return job

    def retry(self, job: Job, fresh: bool) -> None:
        """Queue job again; fresh: the worker removes the audio's entries first."""
        with self.lock:
            if job.status in ("queued", "running"):
                raise HTTPException(409, f"job {job.id} is {job.status}")
            job.status, job.fresh, job.error, job.cleared = "queued", fresh, None, None
            job.result = job.format = None
            job.transcription_cached = job.diarization_cached = None
            job.stages = {}
        self.queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        with self.lock:
            job.status, job.started, job.finished = "running", time.time(), None
            job.attempts += 1
        try:
            if job.fresh:
                n, _ = self.orchestrator.clear(job.audio, digest=job.audio_digest)
                job.cleared = n
            outdir = os.path.join(self.results, job.id)
            os.makedirs(outdir, exist_ok=True)
            r = self.orchestrator.transcribe(job.audio, outdir)
        except (OrchestratorError, arca.Error, OSError) as exc:
            with self.lock:
                job.status, job.error, job.finished = "failed", str(exc), time.time()
            return
        except Exception as exc:  # a worker thread must survive any job
            with self.lock:
                job.status = "failed"
                job.error = f"{type(exc).__name__}: {exc}"
                job.finished = time.time()
            return
        finally:
            # Each thread's handle batches its hit/miss counts (written at
            # 256 notes, on its next call 2 s after the oldest, at close,
            # or before a stats read on that handle): read the stats here,
            # in the worker, so that GET /cache/stats (another thread's
            # handle) counts this job.
            try:
                self.store.stats()
            except arca.Error:
                pass
        with self.lock:
            job.audio_digest = r.audio_digest
            job.result, job.format, job.degraded = r.output, r.kind, r.degraded
            job.transcription_cached = r.transcription_cached
            job.diarization_cached = r.diarization_cached
            job.stages = {n: {"cached": s.cached, "ok": s.ok, "duration_ms": s.duration_ms,
                              "key": s.key, "message": s.message}
                          for n, s in r.stages.items()}
            job.status, job.finished = "done", time.time()


def create_app(store_dir: Optional[str] = None, *, results: Optional[str] = None,
               workers: Optional[int] = None, diarizer: Optional[str] = None) -> FastAPI:
    """The app; its store and worker threads start with it (startup) and
    stop with it (shutdown). Each argument left None comes from the
    environment at startup: ARCA_DIR, ARCA_API_RESULTS, ARCA_API_WORKERS,
    ARCA_API_DIARIZER."""
    app = FastAPI(title="arca transcription API")
    state: Dict[str, object] = {}

    def worker() -> BackgroundWorker:
        w = state.get("worker")
        if w is None:
            raise HTTPException(503, "the worker is not running")
        return w  # type: ignore[return-value]

    @app.on_event("startup")
    def startup() -> None:
        store = arca.Store(store_dir if store_dir is not None else os.environ.get("ARCA_DIR"))
        out = os.path.abspath(results or os.environ.get("ARCA_API_RESULTS", "results"))
        os.makedirs(out, exist_ok=True)
        n = workers if workers is not None else int(os.environ.get("ARCA_API_WORKERS", "2"))
        w = BackgroundWorker(store, out, workers=max(1, n),
                             diarizer=diarizer or os.environ.get("ARCA_API_DIARIZER",
                                                                 DEFAULT_DIARIZER))
        w.start()
        state["store"], state["worker"] = store, w

    @app.on_event("shutdown")
    def shutdown() -> None:
        w = state.pop("worker", None)
        if w is not None:
            w.stop()  # type: ignore[attr-defined]
        store = state.pop("store", None)
        if store is not None:
            store.close()  # type: ignore[attr-defined]

    def find(job_id: str) -> Job:
        w = worker()
        with w.lock:
            job = w.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.post("/jobs", status_code=202)
    def submit(body: JobIn) -> dict:
        audio = body.audio
        if not audio.startswith(("http://", "https://")):
            audio = os.path.abspath(audio)
            if not os.path.isfile(audio):
                raise HTTPException(400, f"{body.audio}: no such file")
        job = worker().submit(audio)
        return {"id": job.id, "status": job.status}

    @app.get("/jobs/{job_id}")
    def status(job_id: str) -> dict:
        job = find(job_id)
        with worker().lock:
            return job.view()

    @app.post("/jobs/{job_id}/retry", status_code=202)
    def retry(job_id: str, fresh: bool = False) -> dict:
        job = find(job_id)
        worker().retry(job, fresh)
        return {"id": job.id, "status": "queued", "fresh": fresh}

    @app.get("/cache/stats")
    def cache_stats() -> dict:
        return worker().store.stats()

    return app


app = create_app()
