"""Exit codes: every command that documents a non-zero exit, run through the CLI's ``main()``
(CliRunner does not go through ``main`` and would hide a lost exit code). 0 = success, 1 = a gate
tripped, 2 = bad input / usage. The console script at the shell is run in real subprocesses for
each of the three codes (``shell=True``); the other commands call ``main()`` in this process
(conftest.invoke), which is the code the console script runs, without a fresh interpreter each."""
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import invoke

from qmtl_research.paths import params_dir

CLI = str(Path(sys.executable).with_name("qmtl-research"))
QMTL = params_dir() / "qmtl"
POLICY = params_dir() / "policies" / "qmtl_sample_policy.yml"


def qr(*args, check_rc=None, shell=False):
    """``qmtl-research ARGS``: the installed console command in a subprocess (``shell=True``) or
    ``main()`` in this process; the exit code checked against ``check_rc`` when given."""
    if shell:
        res = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    else:
        res = invoke(*args)
    if check_rc is not None:
        assert res.returncode == check_rc, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    return res


def test_the_console_command_is_installed():
    assert Path(CLI).is_file(), f"{CLI} missing: run `make setup`"
    qr("--help", check_rc=0, shell=True)


def test_in_process_main_answers_as_the_console_command():
    """The in-process runs below stand for the console command: same exit code, stdout and stderr."""
    for args in (("validate", "--policy", POLICY, "--runs", QMTL / "borderline_strategies_runs.json",
                  "--fail-on", "fail", "-o", "json"),
                 ("validate", "--policy", POLICY.with_name("nope.yml"), "--runs", QMTL)):
        shell, here = qr(*args, shell=True), qr(*args)
        assert (here.returncode, here.stdout, here.stderr) == (shell.returncode, shell.stdout, shell.stderr)
        assert shell.returncode in (1, 2)


# ----------------------------------------------------------------- validate --fail-on
def test_validate_fail_on_fail():
    border = QMTL / "borderline_strategies_runs.json"       # borderline-set-002 fails (hysteresis)
    qr("validate", "--policy", POLICY, "--runs", border, check_rc=0)            # no gate without --fail-on
    res = qr("validate", "--policy", POLICY, "--runs", border, "--fail-on", "fail", check_rc=1, shell=True)
    assert "--fail-on fail: 1 run(s)" in res.stderr
    qr("validate", "--policy", POLICY, "--runs", QMTL / "good_strategies_runs.json", "--fail-on", "fail", check_rc=0)
    qr("validate", "--policy", POLICY, "--runs", QMTL / "good_strategies_runs.json", "--fail-on", "warn", check_rc=0)
    res = qr("validate", "--policy", POLICY, "--runs", border, "--qmtl-compat", "-o", "json", "--fail-on", "fail",
             check_rc=1)
    assert [d["status"] for d in json.loads(res.stdout)] == ["pass", "fail", "pass"]   # stdout stays clean JSON


def test_validate_fail_on_warn(tmp_path):
    """A run whose only problem is a missing DSR under on_missing_metric warn: status warn."""
    pol = yaml.safe_load(POLICY.read_text())
    pol["validation"] = {"on_missing_metric": "warn"}
    pf = tmp_path / "warn_policy.yml"
    pf.write_text(yaml.safe_dump(pol))
    runs = json.loads((QMTL / "good_strategies_runs.json").read_text())
    runs[0]["metrics"]["robustness"]["deflated_sharpe_ratio"] = None
    rf = tmp_path / "runs.json"
    rf.write_text(json.dumps(runs))
    res = qr("validate", "--policy", pf, "--runs", rf, "-o", "json", check_rc=0)
    assert [d["status"] for d in json.loads(res.stdout)] == ["warn", "pass", "pass"]
    qr("validate", "--policy", pf, "--runs", rf, "--fail-on", "fail", check_rc=0)
    res = qr("validate", "--policy", pf, "--runs", rf, "--fail-on", "warn", check_rc=1)
    assert "1 run(s) with status warn or fail" in res.stderr


def test_bad_input_and_usage_exit_2(tmp_path):
    res = qr("validate", "--policy", tmp_path / "nope.yml", "--runs", QMTL, check_rc=2, shell=True)
    assert res.stderr.startswith("error: YAML file not found") and "fix:" in res.stderr and "Traceback" not in res.stderr
    res = qr("validate", "--policy", POLICY, "--runs", QMTL, "--fail-on", "sometimes", check_rc=2)
    assert "--fail-on" in res.stderr
    res = qr("validate", "--no-such-option", check_rc=2, shell=True)
    assert "No such option" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "runs.json"
    bad.write_text("[{")
    assert "invalid JSON" in qr("validate", "--policy", POLICY, "--runs", bad, check_rc=2).stderr


# ----------------------------------------------------------------------- policy diff
def test_policy_diff_gate(tmp_path):
    qr("policy", "diff", POLICY, POLICY, "--runs", QMTL, check_rc=0)
    pol = yaml.safe_load(POLICY.read_text())
    pol["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 1.0   # 5 of 32 runs fail now
    new = tmp_path / "new.yml"
    new.write_text(yaml.safe_dump(pol))
    res = qr("policy", "diff", POLICY, new, "--runs", QMTL, "--stage", "backtest", check_rc=1)
    assert "15.6% of runs change status" in res.stderr
    res = qr("policy", "diff", POLICY, new, "--runs", QMTL, "--stage", "backtest", "-o", "json", check_rc=1)
    d = json.loads(res.stdout)
    assert d["n_status_changed"] == 5 and d["warn"] is True
    pol["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.61   # 1 of 32: 3.1 % < 5 %
    new.write_text(yaml.safe_dump(pol))
    qr("policy", "diff", POLICY, new, "--runs", QMTL, "--stage", "backtest", check_rc=0)


# ------------------------------------------------------------------------ runs monitor
def test_runs_monitor_demotion_gate(tmp_path):
    idx = pd.bdate_range("2023-01-02", periods=600)
    rng = np.random.default_rng(11)
    head = list(rng.normal(0.001, 0.01, 300))
    frame = pd.DataFrame({"steady": head * 2, "decay": head + [-abs(x) for x in head]}, index=idx).rename_axis("date")
    both, steady = tmp_path / "both.csv", tmp_path / "steady.csv"
    frame.to_csv(both)
    frame[["steady"]].to_csv(steady)
    start = idx[300].date().isoformat()
    res = qr("runs", "monitor", "--returns", both, "--live-start", start, check_rc=1)
    assert "decay" in res.stdout
    qr("runs", "monitor", "--returns", steady, "--live-start", start, check_rc=0)
    qr("runs", "monitor", "--returns", both, check_rc=2)                 # --live-start missing


# ---------------------------------------------------- runs overrides --overdue, invariants
@pytest.fixture
def recorded(tmp_path):
    """A store holding QMTL's known-bad runs, recorded as live runs of world qmtl-sample."""
    url = f"sqlite:///{tmp_path}/store.sqlite"
    qr("validate", "--world", "qmtl-sample", "--runs", QMTL / "known_bad_strategies_runs.json", "--stage", "live",
       "--record", "--store-url", url, check_rc=0)
    return url


def test_runs_overrides_overdue_gate(recorded):
    from qmtl_research.config import ModelCard, load_world
    from qmtl_research.store import EvaluationStore, RunKey
    from qmtl_research.governance.overrides import record_override

    qr("runs", "overrides", "--overdue", "--store-url", recorded, check_rc=0)        # no override yet
    store = EvaluationStore.open(recorded)
    key = RunKey("qmtl-sample", "known_bad_short_history_01", "known-bad-001")
    card = ModelCard(strategy_id="known-bad", model_card_version="v1", objective="fixtures", owner="o", developer="d")
    record_override(store, key, load_world("qmtl-sample"), status="approved", actor="alice", reason="accepted",
                    role="Risk", card=card,
                    timestamp=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))       # live: due 30 days later
    res = qr("runs", "overrides", "--overdue", "--store-url", recorded, check_rc=1)
    assert "known-bad-001" in res.stdout
    qr("runs", "overrides", "--store-url", recorded, check_rc=0)                     # listing is not a gate


def test_policy_invariants_gate(recorded, tmp_path):
    res = qr("policy", "invariants", "--world", "qmtl-sample", "--store-url", recorded, check_rc=1)
    assert "latest_live_run_passes" in res.stdout and "fail" in res.stdout
    empty = f"sqlite:///{tmp_path}/empty.sqlite"
    res = qr("policy", "invariants", "--world", "qmtl-sample", "--store-url", empty, check_rc=0)
    assert "not_applicable" in res.stdout
    qr("policy", "invariants", "--world", "no-such-world", "--store-url", empty, check_rc=2)


# ------------------------------------------------------------------------- report all
def test_report_all_fails_when_a_strategy_fails(tmp_path):
    """An unusable store makes the one strategy of world qmtl-sample fail in its own process."""
    res = qr("report", "all", "--world", "qmtl-sample", "--workers", "1",
             "--store-url", f"sqlite:///{tmp_path}/no/such/dir/store.sqlite", check_rc=1)
    assert "qmtl-import: exit" in res.stdout


# ------------------------------------------------------------------------------ events
def test_events_export_carries_qmtl_names(recorded, tmp_path):
    out = tmp_path / "ev.jsonl"
    qr("events", "export", "--output", out, "--store-url", recorded, check_rc=0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    names = {(r["event_type"], r["qmtl_event_type"]) for r in rows}
    assert names == {("validation_profile_changed", "ValidationProfileChanged"),
                     ("evaluation_run_created", "EvaluationRunCreated"),
                     ("evaluation_run_updated", "EvaluationRunUpdated")}
    updated = [r for r in rows if r["event_type"] == "evaluation_run_updated"]
    assert len(updated) == 20 and {r["payload"]["change_type"] for r in updated} == {"evaluated"}
    res = qr("events", "export", "--type", "EvaluationRunUpdated", "--store-url", recorded, check_rc=0)
    assert len(res.stdout.splitlines()) == 20
    qr("events", "list", "--type", "EvaluationRunDeleted", "--store-url", recorded, check_rc=2)
