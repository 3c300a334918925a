"""Evaluation Store: append-only runs, write-once results, history, events, reports (SQLite + PostgreSQL)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qmtl_research.errors import StoreError
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import new_run_id


@pytest.fixture
def store(store_url):
    s = EvaluationStore.open(store_url)
    yield s
    s.engine.dispose()


KEY = RunKey("w1", "s1", "r1")


def test_run_lifecycle_and_immutability(store):
    store.create_run(KEY, stage="backtest", risk_tier="high", model_card_version="v1.0", policy_version="3")
    assert store.get_run(KEY)["status"] == "created"
    store.start_run(KEY)
    store.put_result(KEY, "sec", "x", 1.5)
    store.evaluate_run(KEY, metrics={"returns": {"sharpe": 1.2}}, validation={"profile": "backtest"},
                       summary={"status": "pass", "recommended_stage": "paper"}, ruleset_hash="abc")
    run = store.get_run(KEY)
    assert run["status"] == "evaluated" and run["summary"]["status"] == "pass"
    assert run["metrics"]["returns"]["sharpe"] == 1.2 and run["ruleset_hash"] == "abc"
    # frozen: no re-evaluation, no failure, no new results
    with pytest.raises(StoreError, match="immutable"):
        store.evaluate_run(KEY, metrics={}, validation={}, summary={"status": "fail"})
    with pytest.raises(StoreError):
        store.fail_run(KEY, "late")
    with pytest.raises(StoreError, match="frozen"):
        store.put_result(KEY, "sec", "y", 2)
    assert store.get_run(KEY)["summary"]["status"] == "pass"


def test_runs_are_never_overwritten(store):
    store.create_run(KEY)
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(KEY)


def test_results_round_trip_frames_and_values(store):
    store.create_run(KEY)
    frame = pd.DataFrame({"MSE": [1.25, np.nan], "grade": [1, 6]},
                         index=pd.Index(["GARCH", "LSTM"], name="model"))
    series = pd.Series([0.01, -0.02], index=pd.to_datetime(["2020-01-03", "2020-01-10"]), name="ret")
    store.put_result(KEY, "volatility", "table2", frame)
    store.put_result(KEY, "risk", "returns", series)
    store.put_result(KEY, "rating", "summary", {"acc": np.float64(0.75), "n": np.int64(3), "bad": float("nan")})
    got = store.get_results(KEY)
    pd.testing.assert_frame_equal(got[("volatility", "table2")], frame, check_dtype=False)
    back = got[("risk", "returns")]
    assert list(back["ret"]) == [0.01, -0.02] and back.index[1] == pd.Timestamp("2020-01-10")
    assert got[("rating", "summary")] == {"acc": 0.75, "n": 3, "bad": None}
    with pytest.raises(StoreError, match="write-once"):
        store.put_result(KEY, "volatility", "table2", frame)


def test_history_is_append_only_with_events(store):
    store.create_run(KEY)
    store.evaluate_run(KEY, metrics={}, validation={}, summary={"status": "warn"})
    r1 = store.append_history(KEY, "override", {"status": "approved", "reason": "r"}, actor="risk-officer")
    r2 = store.append_history(KEY, "ex_post_failure", {"reason": "live breach"})
    assert (r1, r2) == (1, 2)
    assert [h["change_type"] for h in store.history(KEY)] == ["override", "ex_post_failure"]
    with pytest.raises(StoreError, match="change_type"):
        store.append_history(KEY, "rewrite", {})
    types = [e["event_type"] for e in store.events()]
    # created; the stored verdict (change_type evaluated); the two history revisions
    assert types == ["evaluation_run_created"] + ["evaluation_run_updated"] * 3
    lines = [json.loads(x) for x in store.export_events_jsonl()]
    assert [x["payload"]["change_type"] for x in lines[1:]] == ["evaluated", "override", "ex_post_failure"]
    assert lines[1]["payload"]["status"] == "warn" and lines[1]["idempotency_key"] == f"evaluation_run_updated:{KEY}:evaluated"
    assert [x["qmtl_event_type"] for x in lines] == ["EvaluationRunCreated"] + ["EvaluationRunUpdated"] * 3


def test_event_idempotency(store):
    assert store.emit_event("validation_profile_changed", None, {"v": 1}, idempotency_key="k1") is True
    assert store.emit_event("validation_profile_changed", None, {"v": 2}, idempotency_key="k1") is False
    evs = store.events(event_type="validation_profile_changed")
    assert len(evs) == 1 and evs[0]["payload"] == {"v": 1}


def test_reports_registered_once_per_version(store):
    kw = dict(strategy_id="s1", world_id="w1", run_id="r1", path="/x", files={"a.pdf": "00"}, manifest={"m": 1})
    store.register_report(version="v0001", **kw)
    with pytest.raises(StoreError, match="never overwritten"):
        store.register_report(version="v0001", **kw)
    store.register_report(version="v0002", **kw)
    assert [r["version"] for r in store.list_reports("s1", "w1")] == ["v0001", "v0002"]


def test_unknown_run_is_a_clear_error(store):
    with pytest.raises(StoreError, match="no run"):
        store.get_run(RunKey("w", "s", "missing"))


def test_run_ids_are_unique_and_sortable():
    ids = {new_run_id("demo") for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("demo-") for i in ids)


def test_schema_version_newer_than_code_is_refused(sqlite_url):
    from sqlalchemy import update

    from qmtl_research.store.tables import schema_info

    s = EvaluationStore.open(sqlite_url)
    with s.engine.begin() as conn:
        conn.execute(update(schema_info).values(version=999))
    with pytest.raises(StoreError, match="newer than this code"):
        EvaluationStore.open(sqlite_url)


def _open_store(url):
    EvaluationStore.open(url).engine.dispose()
    return True


def test_parallel_processes_create_the_schema_once(store_url):
    """Reports run in parallel processes: the first use of a store must not race."""
    import multiprocessing as mp

    from sqlalchemy import func, select

    from qmtl_research.store.tables import schema_info

    with mp.get_context("spawn").Pool(4) as pool:
        assert all(pool.map(_open_store, [store_url] * 4))
    with EvaluationStore.open(store_url).engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema_info)).scalar() == 1
