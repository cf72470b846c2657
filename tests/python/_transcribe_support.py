"""Shared by test_orchestrator.py and test_api.py: where the examples are,
the clip, and a PATH directory whose pocketsphinx_continuous counts its
runs (so a test can prove that a warm run skipped PocketSphinx)."""
import os
import re
import shutil
import sys
from pathlib import Path

SRC = Path(os.environ.get("ARCA_SRC") or Path(__file__).resolve().parents[2])
EXAMPLES = SRC / "examples" / "python"
ORCHESTRATOR = EXAMPLES / "orchestrator.py"
# 3 s of a LibriVox reading (Debian's pocketsphinx-testdata), one narrator.
CLIP = Path("/usr/share/pocketsphinx/test/data/librivox/"
            "sense_and_sensibility_01_austen_64kb-0880.wav")
POCKETSPHINX = shutil.which("pocketsphinx_continuous", path="/usr/bin:/bin") \
    or "/usr/bin/pocketsphinx_continuous"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


class Tools:
    """bin/ for PATH: pocketsphinx_continuous appends a line to count_file
    per run, then execs the real one; diarize-broken exits 0 having written
    no RTTM (the diarize wrapper must reject it)."""

    def __init__(self, base: Path):
        self.bin = base / "bin"
        self.bin.mkdir(parents=True)
        self.count_file = base / "pocketsphinx.runs"
        ps = self.bin / "pocketsphinx_continuous"
        ps.write_text("#!/bin/sh\necho run >>'%s'\nexec '%s' \"$@\"\n"
                      % (self.count_file, POCKETSPHINX))
        broken = self.bin / "diarize-broken"
        broken.write_text("#!/bin/sh\necho 'not rttm' >\"$2\"\n")
        for f in (ps, broken):
            f.chmod(0o755)

    @property
    def runs(self) -> int:
        """How many times PocketSphinx has run."""
        try:
            return len(self.count_file.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def path(self) -> str:
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


def plain_hypothesis(words_md: str) -> str:
    """The words of format-md's list items, lower-cased, speakers dropped."""
    words = []
    for line in words_md.splitlines():
        if line.startswith("- ["):
            text = re.sub(r"\*\*[^*]+\*\*: ", "", line.split("] ", 1)[1])
            words.extend(text.rstrip(".").lower().split())
    return " ".join(words)
