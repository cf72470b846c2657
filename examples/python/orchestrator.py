#!/usr/bin/python3
"""orchestrator.py: the seeds' TranscriptionOrchestrator on arca's Python API.

    orchestrator.py [--store DIR] [--no-cache] [--diarizer NAME] AUDIO [-o OUTDIR]
    orchestrator.py [--store DIR] cache stats
    orchestrator.py [--store DIR] cache clear AUDIO

AUDIO is a file or an http(s) URL. The reference pipeline's tools
(examples/transcribe/) run as cached stages, each one `store.stage(...).run()`:

    transcode   ffmpeg: AUDIO -> audio.wav (16 kHz mono 16-bit PCM, bit-exact)
    transcribe  ps-transcribe (CMU PocketSphinx): audio.wav -> words.txt
    diarize     diarize DIARIZER: audio.wav -> speakers.rttm (RTTM turns)
    format      format-md: words.txt [speakers.rttm] -> OUTDIR/STEM.md

A hit restores the stage's outputs and its command does not run. If
diarization fails (the diarizer fails, is missing, or writes no RTTM), the
run falls back to the transcript it has (cached): OUTDIR/STEM.txt, the plain
recognized text, and says so. The failed diarization is not cached, so the
next run tries the diarizer again while transcode and transcribe hit.

Each stage's entry is tagged `audio:<sha256 of AUDIO's bytes>`; `cache clear
AUDIO` removes that audio's entries (store.clear(tag=...)). `--no-cache`
runs every command without opening a store. The store is --store DIR, else
$ARCA_DIR, else arca's default.

Exit status: 0 a transcript was written (a fallback .txt included), 1 a
required stage failed or an error stopped the run, 2 a usage error.
Run it with Debian's /usr/bin/python3 and the arca package on PYTHONPATH.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, asdict
from typing import Callable, Dict, List, Optional

import arca

HERE = os.path.dirname(os.path.abspath(__file__))
# The reference pipeline's tools: examples/transcribe/ next to this directory.
TOOLS_DIR = os.path.normpath(os.path.join(HERE, "..", "transcribe"))
POCKETSPHINX_MODEL = "/usr/share/pocketsphinx/model/en-us"
DEFAULT_DIARIZER = "diarize-mfcc"


class OrchestratorError(Exception):
    """A run could not produce a transcript; the message names what and where."""


@dataclass
class StageReport:
    """How one stage went: cached (a hit: restored, the command did not run),
    ok (its outputs are in place), duration_ms (the run's, or the original
    run's on a hit), key (64 hex; "" without a store), message (why it failed)."""
    name: str
    cached: bool = False
    ok: bool = False
    duration_ms: int = 0
    key: str = ""
    message: str = ""

    def line(self) -> str:
        short = f" {self.key[:8]}" if self.key else ""
        if self.cached:
            return f"{self.name}: cached{short} (saved {self.duration_ms} ms)"
        if self.ok:
            return f"{self.name}: computed{short} ({self.duration_ms} ms)"
        return f"{self.name}: failed{short}: {self.message}"


@dataclass
class TranscriptionResult:
    """output: the transcript written (STEM.md, or STEM.txt after a
    fallback); kind: "md" or "txt"; degraded: True when diarization failed;
    audio_digest: sha256 of the audio's bytes (its tag is "audio:" + it)."""
    output: str
    kind: str
    degraded: bool
    audio_digest: str
    stages: Dict[str, StageReport] = field(default_factory=dict)

    @property
    def transcription_cached(self) -> bool:
        return self.stages["transcribe"].cached

    @property
    def diarization_cached(self) -> bool:
        d = self.stages.get("diarize")
        return bool(d and d.cached and d.ok)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["transcription_cached"] = self.transcription_cached
        d["diarization_cached"] = self.diarization_cached
        return d


def audio_tag(digest: str) -> str:
    """The tag on every entry computed for the audio whose sha256 is digest."""
    return "audio:" + digest


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_url(audio: str) -> bool:
    return audio.startswith(("http://", "https://"))


def _tool_digest(command: str) -> str:
    """'NAME sha256:HEX' for the executable PATH finds for command (its
    first word), or 'NAME not found'."""
    name = command.split()[0] if command.split() else command
    path = shutil.which(name)
    if path is None:
        return f"{name} not found"
    return f"{name} sha256:{_sha256_file(path)}"


def _package_version(package: str) -> Optional[str]:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def plain_transcript(words_txt: str) -> str:
    """The recognized text of pocketsphinx_continuous's output (see
    ps-transcribe): its hypothesis lines, one per utterance, without the
    `word start end confidence` lines."""
    timing = re.compile(r"^\S+ \d+\.\d+ \d+\.\d+ \S+$")
    lines = []
    with open(words_txt, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line and not timing.match(line):
                lines.append(line)
    return "\n".join(lines) + "\n"


def _write_atomically(path: str, data: bytes) -> None:
    part = path + ".part"
    with open(part, "wb") as f:
        f.write(data)
    os.replace(part, path)


class TranscriptionOrchestrator:
    """Transcode, transcribe, diarize (optional) and format one recording,
    each stage cached in an arca store.

    store: an open arca.Store, or None to run every command without a cache
    (--no-cache). diarizer: the command `diarize` runs as `DIARIZER IN.wav
    OUT.rttm` ("none": no diarizer, so the run falls back to the plain
    transcript). tools_dir: where ps-transcribe, diarize, diarize-single and
    format-md are (put first on PATH, so argv holds bare names and no
    checkout path enters a key). log: called with one line per event.

    Thread-safe: each run works in its own temporary directory, and
    arca.Store keeps one C handle per thread, so two threads transcribing
    the same audio compute each stage once (the second waits on the first's
    lease, then hits).
    """

    def __init__(self, store: Optional["arca.Store"], *,
                 diarizer: str = DEFAULT_DIARIZER,
                 tools_dir: str = TOOLS_DIR,
                 log: Optional[Callable[[str], None]] = None):
        self.store = store
        self.diarizer = diarizer
        self.log = log or (lambda line: None)
        path = os.environ.get("PATH", "")
        if tools_dir not in path.split(os.pathsep):
            os.environ["PATH"] = tools_dir + (os.pathsep + path if path else "")
        self._recognizer_version: Optional[str] = None

    # -- the tools' identities ------------------------------------------
    def recognizer_version(self) -> str:
        """The transcribe stage's tool: the wrapper's digest plus the
        versions of pocketsphinx and its model (the wrapper's own digest
        does not capture them), as examples/transcribe/transcribe names it."""
        if self._recognizer_version is None:
            ps = _package_version("pocketsphinx")
            if ps is None:
                ps = _tool_digest("pocketsphinx_continuous").split(" ", 1)[1]
            model = _package_version("pocketsphinx-en-us") or "unknown"
            wrapper = _tool_digest("ps-transcribe").split(" ", 1)[1]
            self._recognizer_version = (
                f"ps-transcribe {wrapper}; pocketsphinx {ps}; pocketsphinx-en-us {model}")
        return self._recognizer_version

    def diarizer_version(self, diarizer: str) -> str:
        """The diarize stage's tool: the wrapper's and the diarizer's digests."""
        return f"{_tool_digest('diarize')}; {_tool_digest(diarizer)}"

    # -- one stage --------------------------------------------------------
    def _stage(self, work: str, name: str, argv: List[str], *, inputs, outputs,
               tool=None, params=None, tags=()) -> StageReport:
        report = StageReport(name)
        t0 = time.monotonic()
        if self.store is None:  # --no-cache: the command, no store at all
            try:
                p = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL,
                                   capture_output=True)
            except OSError as exc:
                report.message = f"cannot run {argv[0]}: {exc.strerror}"
                return report
            report.duration_ms = int((time.monotonic() - t0) * 1000)
            missing = [o for o in outputs if not os.path.exists(os.path.join(work, o))]
            report.ok = p.returncode == 0 and not missing
            if not report.ok:
                report.message = self._why(p.returncode, p.stderr, missing)
            return report
        try:
            stage = self.store.stage(name, argv=argv, inputs=inputs, outputs=outputs,
                                     tool=tool, params=params or {}, tags=tags,
                                     workdir=work)
            r = stage.run(capture_output=True)
        except (arca.NotFound, arca.PermissionDenied) as exc:
            report.message = f"cannot run {argv[0]}: {exc}"
            return report
        except (arca.Error, OSError) as exc:
            report.message = str(exc)
            return report
        report.key = r.key or ""
        report.cached = bool(r.hit)
        report.ok = bool(r.ok)
        report.duration_ms = int(r.duration_ms or 0)
        if not report.ok:
            missing = [o for o in outputs if not os.path.exists(os.path.join(work, o))]
            report.message = self._why(r.exit_status, r.stderr or b"", missing,
                                       r.outcome)
        return report

    @staticmethod
    def _why(status, stderr: bytes, missing, outcome: str = "failed") -> str:
        last = stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {last[-1]}" if last else ""
        if outcome == "cache_write_failed":
            return f"ran, but its outputs could not be stored{detail}"
        if status not in (0, None):
            return f"exit status {status}{detail}"
        if missing:
            return f"exited 0 without writing {', '.join(missing)}{detail}"
        return f"{outcome}{detail}"

    # -- the pipeline -----------------------------------------------------
    def _bring_in(self, audio: str, work: str) -> str:
        """Put AUDIO into work as source.EXT (a symbolic link to a file, or
        a URL's bytes); returns (its base name, the transcript's source;
        source.EXT's name in work)."""
        if _is_url(audio):
            name = os.path.basename(urllib.parse.urlsplit(audio).path) or "audio"
        else:
            if not os.path.exists(audio):
                raise OrchestratorError(f"{audio}: no such file")
            if not os.path.isfile(audio) or not os.access(audio, os.R_OK):
                raise OrchestratorError(f"{audio}: not a readable file")
            name = os.path.basename(audio)
        ext = os.path.splitext(name)[1].lower()
        src = os.path.join(work, "source" + ext)
        if _is_url(audio):
            try:
                with urllib.request.urlopen(audio, timeout=60) as resp, \
                        open(src, "wb") as f:
                    shutil.copyfileobj(resp, f)
            except (OSError, ValueError) as exc:
                raise OrchestratorError(f"cannot fetch {audio}: {exc}") from None
        else:
            os.symlink(os.path.abspath(audio), src)
        return name, os.path.basename(src)

    def transcribe(self, audio: str, outdir: str = ".",
                   diarizer: Optional[str] = None) -> TranscriptionResult:
        """Transcribe AUDIO (a path or an http(s) URL) into OUTDIR/STEM.md,
        or OUTDIR/STEM.txt when diarization fails. Raises OrchestratorError
        when a required stage fails (its message names the stage)."""
        diarizer = diarizer or self.diarizer
        if not os.path.isdir(outdir):
            raise OrchestratorError(f"{outdir}: no such directory")
        work = tempfile.mkdtemp(prefix="arca-orchestrator-")
        try:
            return self._transcribe(audio, work, outdir, diarizer)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _transcribe(self, audio, work, outdir, diarizer) -> TranscriptionResult:
        name, src = self._bring_in(audio, work)
        digest = _sha256_file(os.path.join(work, src))
        tags = (audio_tag(digest),)
        stages: Dict[str, StageReport] = {}

        def required(report: StageReport) -> None:
            stages[report.name] = report
            self.log(report.line())
            if not report.ok:
                raise OrchestratorError(f"{report.name} failed for {audio}: {report.message}")

        # The stages see fixed names in the work dir, so no key holds a path.
        required(self._stage(
            work, "transcode",
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
             "-i", src, "-map_metadata", "-1", "-fflags", "+bitexact",
             "-flags:a", "+bitexact", "-ac", "1", "-ar", "16000",
             "-c:a", "pcm_s16le", "-f", "wav", "audio.wav"],
            inputs=[src], outputs=["audio.wav"], tags=tags))
        required(self._stage(
            work, "transcribe", ["ps-transcribe", "audio.wav", "words.txt"],
            inputs=["audio.wav"], outputs=["words.txt"],
            tool=self.recognizer_version(), tags=tags))

        d = self._stage(
            work, "diarize", ["diarize", diarizer, "audio.wav", "speakers.rttm"],
            inputs=["audio.wav"], outputs=["speakers.rttm"],
            tool=self.diarizer_version(diarizer), params={"diarizer": diarizer},
            tags=tags)
        stages["diarize"] = d
        self.log(d.line())

        stem = os.path.splitext(name)[0] or "audio"
        md = os.path.join(outdir, stem + ".md")
        txt = os.path.join(outdir, stem + ".txt")
        if d.ok:
            # format-md is cheap and not cached (as in arca.yaml: cache: false).
            p = subprocess.run(["format-md", "words.txt", "transcript.md", name,
                                "speakers.rttm"], cwd=work, stdin=subprocess.DEVNULL,
                               capture_output=True)
            if p.returncode != 0:
                raise OrchestratorError(
                    f"format failed for {audio}: {self._why(p.returncode, p.stderr, [])}")
            with open(os.path.join(work, "transcript.md"), "rb") as f:
                _write_atomically(md, f.read())
            out, kind, stale = md, "md", txt
        else:
            self.log("diarize failed: falling back to the cached transcript "
                     "(plain text, no speakers)")
            _write_atomically(txt, plain_transcript(
                os.path.join(work, "words.txt")).encode("utf-8"))
            out, kind, stale = txt, "txt", md
        # The other kind, left by an earlier run, is not this run's result.
        if os.path.exists(stale):
            os.remove(stale)
        self.log(f"wrote {out}" + ("" if kind == "md" else
                                   " (plain transcript: diarization failed)"))
        return TranscriptionResult(out, kind, not d.ok, digest, stages)

    # -- the cache --------------------------------------------------------
    def audio_digest(self, audio: str) -> str:
        """sha256 of AUDIO's bytes (a URL is fetched)."""
        if not _is_url(audio):
            if not os.path.isfile(audio):
                raise OrchestratorError(f"{audio}: no such file")
            return _sha256_file(audio)
        work = tempfile.mkdtemp(prefix="arca-orchestrator-")
        try:
            _, src = self._bring_in(audio, work)
            return _sha256_file(os.path.join(work, src))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def clear(self, audio: Optional[str] = None, *, digest: Optional[str] = None):
        """Remove the entries computed for AUDIO (or for the audio whose
        sha256 is digest): returns (n_removed, bytes_freed)."""
        if self.store is None:
            raise OrchestratorError("no store (--no-cache)")
        digest = digest or self.audio_digest(audio)
        return self.store.clear(tag=audio_tag(digest))


def format_stats(stats: dict) -> str:
    """`cache stats`: the overall and per-stage counts of store.stats()."""
    def row(name, s):
        rate = s.get("hit_rate")
        rate = "-" if rate is None else f"{rate * 100:.0f}%"
        return (f"{name:<12} {s.get('hits', 0):>5} {s.get('misses', 0):>7} "
                f"{rate:>9} {s.get('saved_ms', 0):>9}")
    lines = [f"{'stage':<12} {'hits':>5} {'misses':>7} {'hit rate':>9} {'saved ms':>9}"]
    for s in stats.get("stages", []):
        lines.append(row(s.get("stage", "?"), s))
    lines.append(row("all", stats.get("overall", {})))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="orchestrator.py",
        usage="%(prog)s [--store DIR] [--no-cache] [--diarizer NAME] AUDIO [-o OUTDIR]\n"
              "       %(prog)s [--store DIR] cache stats [--json]\n"
              "       %(prog)s [--store DIR] cache clear AUDIO",
        description="Transcribe AUDIO (a file or an http(s) URL) with each stage "
                    "cached in an arca store.")
    p.add_argument("--store", metavar="DIR",
                   help="the store (default $ARCA_DIR, else arca's default)")
    p.add_argument("--no-cache", action="store_true",
                   help="run every stage; open no store")
    p.add_argument("--diarizer", metavar="NAME", default=DEFAULT_DIARIZER,
                   help="DIARIZER IN.wav OUT.rttm writes speaker turns "
                        f"(default {DEFAULT_DIARIZER}; 'none': no diarization)")
    p.add_argument("-o", "--outdir", metavar="OUTDIR", default=".",
                   help="where STEM.md (or STEM.txt) is written (default .)")
    p.add_argument("--json", action="store_true",
                   help="print the result (or cache stats) as JSON on stdout")
    p.add_argument("args", nargs="+", metavar="AUDIO")
    a = p.parse_args(argv)

    def log(line):  # with --json, stdout holds the JSON alone
        print(line, file=sys.stderr if a.json else sys.stdout, flush=True)

    try:
        if a.args[0] == "cache":
            if a.no_cache:
                p.error("cache: not with --no-cache")
            sub = a.args[1:]
            if sub == ["stats"]:
                with arca.Store(a.store) as store:
                    stats = store.stats()
                print(json.dumps(stats, indent=2) if a.json else format_stats(stats))
                return 0
            if len(sub) == 2 and sub[0] == "clear":
                with arca.Store(a.store) as store:
                    orch = TranscriptionOrchestrator(store)
                    digest = orch.audio_digest(sub[1])
                    n, freed = orch.clear(digest=digest)
                print(f"removed {n} entr{'y' if n == 1 else 'ies'} ({freed} bytes) "
                      f"for {sub[1]} (tag {audio_tag(digest)[:14]}...)")
                return 0
            p.error("cache: expected 'cache stats' or 'cache clear AUDIO'")
        if len(a.args) != 1:
            p.error("expected one AUDIO")
        if a.no_cache:
            orch = TranscriptionOrchestrator(None, diarizer=a.diarizer, log=log)
            result = orch.transcribe(a.args[0], a.outdir)
        else:
            with arca.Store(a.store) as store:
                orch = TranscriptionOrchestrator(store, diarizer=a.diarizer, log=log)
                result = orch.transcribe(a.args[0], a.outdir)
        if a.json:
            print(json.dumps(result.to_dict(), indent=2))
        return 0
    except OrchestratorError as exc:
        print(f"orchestrator.py: {exc}", file=sys.stderr)
        return 1
    except arca.Error as exc:
        print(f"orchestrator.py: {exc}", file=sys.stderr)  # names the store
        return 1


if __name__ == "__main__":
    sys.exit(main())
