"""#17 item 9: re-evaluating a run without metrics of its own (the qmtl-import compatibility run)
is refused instead of storing a FAIL that reads every metric as missing; the same override
submitted twice is stored once (a revoke and a new approval are still recorded)."""
from __future__ import annotations

from conftest import REPO, run_main as cli


def test_reevaluating_the_qmtl_import_run_is_refused_and_stores_nothing(home, capsys):
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore, RunKey
    from qmtl_research.governance.events import sync_policy  # noqa: F401  (the CLI path below)

    res = run_report("qmtl-import", no_notebooks=True, progress=False, echo=lambda *a: None)
    assert res.verdict == "PASS"
    store = EvaluationStore.open()
    before = store.list_runs()
    rc, out, err = cli(capsys, "runs", "reevaluate", "--world", res.world_id, "--strategy", "qmtl-import",
                       "--run", res.run_id)
    assert rc == 2 and "holds no metrics of its own" in err and "where:" in err and "fix:" in err, err
    assert [r["run_id"] for r in store.list_runs()] == [r["run_id"] for r in before]
    assert store.get_run(RunKey(res.world_id, "qmtl-import", res.run_id))["summary"]["status"] == "pass"


def test_reevaluating_a_run_with_metrics_still_works(home, capsys):
    from qmtl_research.store import EvaluationStore

    runs = home / "params" / "qmtl" / "good_strategies_runs.json"
    assert cli(capsys, "validate", "--world", "qmtl-sample", "--runs", runs, "--stage", "live", "--record")[0] == 0
    run = EvaluationStore.open().list_runs("qmtl-sample")[0]
    rc, out, err = cli(capsys, "runs", "reevaluate", "--world", "qmtl-sample", "--strategy", run["strategy_id"],
                       "--run", run["run_id"])
    assert rc == 0 and "re-evaluated as" in out, err
    new = [r for r in EvaluationStore.open().list_runs("qmtl-sample") if r["run_id"] == f"{run['run_id']}-re1"]
    assert len(new) == 1 and new[0]["summary"]["status"] == run["summary"]["status"]


def test_the_same_override_twice_is_stored_once(home, capsys):
    from qmtl_research.store import EvaluationStore, RunKey

    runs = home / "params" / "qmtl" / "good_strategies_runs.json"
    assert cli(capsys, "validate", "--world", "qmtl-sample", "--runs", runs, "--stage", "live", "--record")[0] == 0
    run = EvaluationStore.open().list_runs("qmtl-sample")[0]
    key = RunKey("qmtl-sample", run["strategy_id"], run["run_id"])
    import yaml

    card = yaml.safe_load((REPO / "params" / "model_cards" / "demo.yaml").read_text())
    card.update(strategy_id=key.strategy_id, owner="Park", developer="Choi")
    (home / "params" / "model_cards" / f"{key.strategy_id}.yaml").write_text(yaml.safe_dump(card, allow_unicode=True))
    args = ["override", "--world", key.world_id, "--strategy", key.strategy_id, "--run", key.run_id,
            "--actor", "Kim", "--role", "Risk"]
    approve = [*args, "--status", "approved", "--reason", "accepted for the pilot"]
    rc1, out1, err1 = cli(capsys, *approve)
    rc2, out2, err2 = cli(capsys, *approve)
    assert rc1 == 0 and rc2 == 0, (err1, err2)
    overrides = lambda: [h for h in EvaluationStore.open().history(key) if h["change_type"] == "override"]  # noqa: E731
    assert len(overrides()) == 1 and "revision 1" in out1 and "revision 1" in out2
    assert cli(capsys, *args, "--status", "revoked", "--reason", "pilot over")[0] == 0
    assert cli(capsys, *approve)[0] == 0                     # a new approval after a revoke is a new decision
    assert [h["payload"]["override_status"] for h in overrides()] == ["approved", "revoked", "approved"]
    assert cli(capsys, *[a if a != "Kim" else "Lee" for a in approve])[0] == 0    # another signer: recorded
    assert len(overrides()) == 4
