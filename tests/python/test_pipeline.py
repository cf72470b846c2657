"""arca.Pipeline: a small pipeline file run cold, then warm; status()
predictions; the progress callback; force=."""
import pytest

import arca

PIPELINE = """\
params:
  n: "1"
stages:
  first:
    cmd: cat in.txt > a.txt; echo ${n} >> a.txt; echo x >> runs-first.log
    deps: [in.txt]
    outs: [a.txt]
    params: [n]
  second:
    cmd: [sh, -c, "cat a.txt a.txt > b.txt; echo x >> runs-second.log"]
    deps: [a.txt]
    outs: [b.txt]
  check:
    cmd: wc -c b.txt > count.txt
    deps: [b.txt]
    outs: [count.txt]
    cache: false
"""


@pytest.fixture
def pipe(store, tmp_path):
    d = tmp_path / "pipe"
    d.mkdir()
    (d / "in.txt").write_text("input\n")
    (d / "arca.yaml").write_text(PIPELINE)
    return arca.Pipeline(str(d / "arca.yaml"), store=store), d


def runs(d, stage):
    log = d / ("runs-%s.log" % stage)
    return len(log.read_text().splitlines()) if log.exists() else 0


def states(report):
    return {s.name: s.state for s in report.stages}


def test_stages(pipe):
    p, _d = pipe
    assert p.stages == ["first", "second", "check"]


def test_cold_then_warm(pipe):
    p, d = pipe
    cold = p.run()
    assert cold.ok
    assert states(cold) == {"first": "ran", "second": "ran", "check": "ran"}
    assert cold.n_ran == 3 and cold.n_hit == 0 and cold.n_failed == 0
    assert (d / "b.txt").read_text() == "input\n1\n" * 2
    for s in cold.stages:
        assert s.exit_status == 0
    keys = {s.name: s.key for s in cold.stages}
    assert all(len(keys[n]) == 64 for n in ("first", "second"))
    (d / "a.txt").unlink()
    (d / "b.txt").unlink()
    warm = p.run()
    assert warm.ok
    assert states(warm) == {"first": "hit", "second": "hit", "check": "ran"}
    assert warm.n_hit == 2 and warm.n_ran == 1
    assert {s.name: s.key for s in warm.stages if s.name != "check"} == \
        {n: keys[n] for n in ("first", "second")}
    assert runs(d, "first") == 1 and runs(d, "second") == 1
    assert (d / "b.txt").read_text() == "input\n1\n" * 2
    # a param: first and everything after it run again
    p2 = p.run(params={"n": "2"})
    assert states(p2)["first"] == "ran" and states(p2)["second"] == "ran"
    assert (d / "b.txt").read_text() == "input\n2\n" * 2
    assert runs(d, "first") == 2


def test_status_predictions(pipe):
    p, d = pipe
    before = p.status()
    assert states(before) == {"first": "would_run", "second": "would_run",
                              "check": "always"}
    first = before.stages[0]
    assert first.reasons and any("never" in r for r in first.reasons)
    assert runs(d, "first") == 0  # status runs nothing
    assert not (d / "a.txt").exists()
    p.run()
    after = p.status()
    assert states(after) == {"first": "up_to_date", "second": "up_to_date",
                             "check": "always"}
    changed = p.status(params={"n": "3"})
    assert states(changed)["first"] == "would_run"
    assert any("n" in r for r in changed.stages[0].reasons)
    (d / "in.txt").write_text("changed\n")
    assert states(p.status())["first"] == "would_run"
    forced = p.status(force=("second",))
    assert states(forced)["second"] == "would_run"
    only = p.status(targets=("first",))
    assert [s.name for s in only.stages] == ["first"]


def test_progress_events(pipe):
    p, _d = pipe
    events = []
    p.run(progress=events.append)
    assert events and all(isinstance(e, arca.Event) for e in events)
    kinds = [(e.kind, e.stage) for e in events]
    for name in ("first", "second", "check"):
        assert ("stage_start", name) in kinds, kinds
    assert ("ran", "first") in kinds, kinds
    # the stage runner's own events: kind "stored", or kind "stage" with
    # detail "stored" (docs/python.md)
    runner = {(e.detail if e.kind == "stage" else e.kind, e.stage)
              for e in events}
    assert ("stored", "first") in runner, kinds
    assert all(e.stage in (None, "first", "second", "check") for e in events)
    warm = []
    p.run(progress=warm.append)
    assert ("hit", "first") in [(e.kind, e.stage) for e in warm]
    assert ("hit", "second") in [(e.kind, e.stage) for e in warm]


def test_progress_callback_raising_is_reported(pipe):
    p, _d = pipe

    def cb(event):
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        p.run(progress=cb)


def test_force(pipe):
    p, d = pipe
    p.run()
    r = p.run(force=("second",))
    assert states(r) == {"first": "hit", "second": "ran", "check": "ran"}
    assert runs(d, "first") == 1 and runs(d, "second") == 2
    r = p.run(force=("first",))
    assert states(r)["first"] == "ran" and states(r)["second"] == "ran"
    assert runs(d, "first") == 2 and runs(d, "second") == 3
    r = p.run(no_cache=True)
    assert r.n_hit == 0 and runs(d, "first") == 3


def test_failed_stage(store, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "arca.yaml").write_text(
        "stages:\n  boom:\n    cmd: exit 7\n    outs: [x]\n"
        "  after:\n    cmd: touch y\n    deps: [x]\n    outs: [y]\n")
    r = arca.Pipeline(str(d / "arca.yaml"), store=store).run(
        stdout=arca.DEVNULL, stderr=arca.DEVNULL)
    assert not r.ok and r.n_failed == 1
    assert states(r) == {"boom": "failed", "after": "not_run"}
    assert r.stages[0].exit_status == 7


def test_bad_pipeline_file(store, tmp_path):
    with pytest.raises(FileNotFoundError):
        arca.Pipeline(str(tmp_path / "absent.yaml"), store=store)
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  x:\n    nocmd: 1\n")
    with pytest.raises(arca.Invalid, match="bad.yaml"):
        arca.Pipeline(str(bad), store=store)


def test_python_run_then_arca_repro_hits(pipe, cli):
    """The same stages, the same keys: `arca repro` restores what
    Pipeline.run stored, and Python hits what `arca repro` stored."""
    p, d = pipe
    p.run()
    (d / "a.txt").unlink()
    (d / "b.txt").unlink()
    cli("repro", str(d / "arca.yaml"), cwd=d)
    assert runs(d, "first") == 1 and runs(d, "second") == 1
    assert (d / "b.txt").read_text() == "input\n1\n" * 2
    cli("repro", "-p", "n=5", str(d / "arca.yaml"), cwd=d)
    assert runs(d, "first") == 2
    (d / "b.txt").unlink()
    r = p.run(params={"n": "5"})
    assert states(r)["first"] == "hit" and states(r)["second"] == "hit"
    assert runs(d, "first") == 2
    assert (d / "b.txt").read_text() == "input\n5\n" * 2
