"""#17 item 6: a report run whose process is interrupted (SIGINT), terminated (SIGTERM) or killed
(SIGKILL) during stage 1 does not stay ``running``: the first two close it themselves, the third is
closed by ``qmtl-research runs reap`` (or the next report run) through the run's pid lease. The
partial results stay, as results of a failed run, and no empty version folder is left.

Real subprocesses (``qmtl-research report run --strategy demo``), killed once the run is running
and stage 1 (GARCH-LSTM on 60 funds, tens of seconds) is under way."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest


def _start_and_wait_running(home: Path):
    """Start a report run of demo; return (process, run row) once the run is running."""
    from qmtl_research.store import EvaluationStore

    proc = subprocess.Popen([sys.executable, "-c", "from qmtl_research.cli import main; main()", "report", "run",
                             "--strategy", "demo", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.communicate()}")
        if (home / "store.sqlite").exists():
            runs = EvaluationStore.open().list_runs("fund-rating", "demo", "running")
            if runs:
                time.sleep(3)                     # inside stage 1
                return proc, runs[0]
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the run never reached 'running'")


def _versions(home: Path) -> list[Path]:
    root = home / "reports" / "demo" / "fund-rating"
    return sorted(root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("sig, code, reason", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                               (signal.SIGINT, 130, "interrupted (SIGINT")])
def test_a_signalled_run_closes_itself_as_failed(home, sig, code, reason):
    from qmtl_research.store import EvaluationStore, RunKey

    proc, run = _start_and_wait_running(home)
    lease = run["params"]["lease"]
    assert lease["pid"] == proc.pid and lease["folder"]
    assert Path(lease["folder"]).is_dir()              # the version folder exists while the run is open
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err[-2000:])
    row = EvaluationStore.open().get_run(RunKey("fund-rating", "demo", run["run_id"]))
    assert row["status"] == "failed" and reason in row["error"], row["error"]
    assert not Path(lease["folder"]).exists() or (Path(lease["folder"]) / "FAILED.txt").is_file()
    assert all(any(p.is_file() for p in v.rglob("*")) for v in _versions(home)), "an empty version folder is left"
    assert not EvaluationStore.open().list_reports("demo", "fund-rating")


def test_a_killed_run_is_closed_by_runs_reap(home, capsys):
    from qmtl_research.cli import main
    from qmtl_research.store import EvaluationStore, RunKey

    proc, run = _start_and_wait_running(home)
    folder = Path(run["params"]["lease"]["folder"])
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    key = RunKey("fund-rating", "demo", run["run_id"])
    store = EvaluationStore.open()
    assert store.get_run(key)["status"] == "running"          # nothing could close it ...
    n_results = len(store.results_frame(key))
    with mock.patch.object(sys, "argv", ["qmtl-research", "runs", "reap"]), pytest.raises(SystemExit) as exc:
        main()                                                   # ... until reap finds its process gone
    assert exc.value.code in (0, None)
    assert "1 abandoned run(s) closed as failed" in capsys.readouterr().out
    row = store.get_run(key)
    assert row["status"] == "failed" and f"process {proc.pid}" in row["error"] and "is gone" in row["error"]
    if n_results:
        assert f"{n_results} partial result(s)" in row["error"]
        assert len(store.results_frame(key)) == n_results            # kept, frozen with the failed run
    assert not folder.exists() or (folder / "FAILED.txt").is_file()
    assert all(any(p.is_file() for p in v.rglob("*")) for v in _versions(home))


def test_reap_leaves_live_and_foreign_runs_alone(home):
    """A run whose process still runs is not touched; one leased on another host only with --older-than."""
    import datetime as dt

    from qmtl_research.store import EvaluationStore, RunKey
    from qmtl_research.store.leases import current_lease, reap

    store = EvaluationStore.open()
    mine, foreign = RunKey("w", "s", "alive"), RunKey("w", "s", "elsewhere")
    store.create_run(mine, params={"lease": current_lease()})
    store.start_run(mine)
    store.create_run(foreign, params={"lease": {"host": "another-host", "pid": 1, "pid_start": 1}})
    assert reap(store) == []
    closed = reap(store, older_than=dt.timedelta(0), now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert [c.key for c in closed] == [foreign]
    assert store.get_run(mine)["status"] == "running" and store.get_run(foreign)["status"] == "failed"
    assert "another-host" in store.get_run(foreign)["error"]


def test_a_strategy_without_a_validation_stage_is_refused_before_any_run(home):
    import yaml

    from qmtl_research.errors import ConfigError
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore

    path = home / "params" / "strategies" / "demo.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["notebooks"] = [n for n in cfg["notebooks"] if n["notebook"] != "validation"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="no validation stage"):
        run_report("demo", progress=False, echo=lambda *a: None)
    assert not (home / "reports").exists()
    assert not (home / "store.sqlite").exists() or EvaluationStore.open().list_runs() == []
