"""The event-stream consumer on SQLite and PostgreSQL: offsets, idempotent handlers (deep
validation, re-judgement), the state view, ordered ids and LISTEN/NOTIFY on PostgreSQL, and
kill -9 / resume in a real subprocess."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from conftest import invoke

from qmtl_research.config import load_world
from qmtl_research.paths import params_dir
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import event_values
from qmtl_research.store.stream_tables import read_offsets
from qmtl_research.store.tables import events
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.governance.events import sync_policy
from qmtl_research.validation.policy import load_policy, parse_policy, ruleset_hash
from qmtl_research.validation.qmtl_runs import load_runs
from qmtl_research.governance.runs import store_outcome
from qmtl_research.governance.stream import KILL_ENV, Consumer, state_frame, state_row

QMTL = params_dir() / "qmtl"
POLICY = params_dir() / "policies" / "qmtl_sample_policy.yml"
WORLD = "qmtl-sample"
CLI = str(Path(sys.executable).with_name("qmtl-research"))


def _stored(store, files=("good_strategies_runs.json",), policy=None):
    keys = []
    for f in files:
        outs = evaluate_batch(load_runs(QMTL / f), policy or load_policy(POLICY), "backtest", policy_version="v1")
        keys += [store_outcome(store, o, world_id=WORLD, model_card_version="v1.0") for o in outs]
    return keys


def _revisions(store, key, change_type):
    return [h for h in store.history(key) if h["change_type"] == change_type]


def test_consumer_deep_validates_each_run_once_and_keeps_the_state_view(store_url):
    store = EvaluationStore.open(store_url)
    keys = _stored(store)
    first = Consumer(store, "c1").follow(once=True)
    evs = store.events()
    ids = [e["id"] for e in evs]
    # the 6 events present when it started, then the 3 evaluation_run_updated its own deep
    # validations emitted, in the same call
    assert len(ids) == 9 and first.handled == 9 and first.offset == ids[-1] == read_offsets(store.engine)["c1"]
    assert len(first.revisions) == 3
    policy = load_policy(POLICY)
    cohort = evaluate_batch(load_runs(QMTL / "good_strategies_runs.json"), policy, "backtest")
    for key, expected in zip(keys, cohort):
        deep = _revisions(store, key, "extended_validation")
        assert len(deep) == 1, key
        p = deep[0]["payload"]
        assert p["layer"] == "deep" and p["cohort"] == ["good_set_1", "good_set_2", "good_set_3"]
        assert p["ruleset_hash"] == ruleset_hash(policy, "backtest")
        assert {n: r["status"] for n, r in p["results"].items()} == {n: r.status for n, r in expected.results.items()}
    again = Consumer(store, "c1").follow(once=True)
    assert again.handled == 0 and again.revisions == []
    # a second consumer replays the whole log: no effect is applied twice
    other = Consumer(store, "c2").follow(once=True)
    assert other.handled == 9 and other.revisions == []
    assert all(len(_revisions(store, k, "extended_validation")) == 1 for k in keys)
    view = state_frame(store).set_index("strategy_id")
    assert list(view.index) == ["good_set_1", "good_set_2", "good_set_3"]
    for key in keys:
        run = store.get_run(key)
        row = view.loc[key.strategy_id]
        assert row["current_verdict"] == run["summary"]["status"] == "pass"
        assert row["recommended_stage"] == run["summary"]["recommended_stage"]
        assert row["deep_validation"] == "pass" and row["run_id"] == key.run_id
        assert row["open_findings"] == 0 and row["overrides_due"] == 0
        assert row["last_event_id"] == max(e["id"] for e in evs if e["strategy_id"] == key.strategy_id)


def test_profile_change_rejudges_without_rewriting(store_url):
    """Runs judged under a stricter policy (Sharpe >= 0.7) than the world's file: the world's
    ValidationProfileChanged makes the consumer re-judge them under the file's policy."""
    store = EvaluationStore.open(store_url)
    strict = load_policy(POLICY).model_dump(mode="json")
    strict["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.7
    strict = parse_policy(strict)
    keys = _stored(store, ("borderline_strategies_runs.json",), policy=strict)
    assert {store.get_run(k)["summary"]["status"] for k in keys} == {"fail"}
    Consumer(store, "c").follow(once=True)
    assert set(state_frame(store)["current_verdict"]) == {"fail"}
    changed = sync_policy(store, load_world(WORLD))
    assert "backtest" in changed
    res = Consumer(store, "c").follow(once=True)
    lenient = evaluate_batch([load_runs(QMTL / "borderline_strategies_runs.json")[i] for i in range(len(keys))],
                             load_policy(POLICY), "backtest")
    for key, ref in zip(keys, lenient):
        rj = _revisions(store, key, "rejudgement")
        assert len(rj) == 1
        p = rj[0]["payload"]
        assert p["status"] == ref.status and p["previous_status"] == "fail"
        assert p["failing"] == ref.failing()
        assert p["ruleset_hash"] == ruleset_hash(load_policy(POLICY), "backtest") != p["previous_ruleset_hash"]
        assert store.get_run(key)["summary"]["status"] == "fail"          # the run itself never changes
    assert len([r for r in res.revisions if "rejudgement" in r]) == len(keys)
    view = state_frame(store).set_index("strategy_id")["current_verdict"].to_dict()
    assert view == {ref.run.strategy_id: ref.status for ref in lenient}
    assert sorted(view.values()) == ["fail", "pass", "pass"]     # borderline_hysteresis_blocked fails risk_constraint
    # replay by another consumer: keyed by the event, nothing recorded twice
    assert Consumer(store, "other").follow(once=True).revisions == []
    assert all(len(_revisions(store, k, "rejudgement")) == 1 for k in keys)
    # the same profile again: no change event, nothing to re-judge
    assert sync_policy(store, load_world(WORLD)) == []


def test_postgresql_event_ids_follow_commit_order(store_url):
    """An event whose transaction commits later never gets a smaller id (the consumer's offset
    would skip it): a second writer waits for the first one's commit."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: ids follow commit order by construction")
    store = EvaluationStore.open(store_url)
    conn1 = store.engine.connect()
    tx = conn1.begin()
    id1 = conn1.execute(insert(events).values(**event_values("validation_profile_changed", None, {},
                                                             idempotency_key="t1", world_id=WORLD))).inserted_primary_key[0]
    got = {}

    def second():
        with store.engine.begin() as c2:
            got["id"] = c2.execute(insert(events).values(**event_values(
                "validation_profile_changed", None, {}, idempotency_key="t2", world_id=WORLD))).inserted_primary_key[0]

    th = threading.Thread(target=second)
    th.start()
    time.sleep(1.0)
    assert th.is_alive() and "id" not in got       # waits for the first writer
    tx.commit()
    th.join(30)
    conn1.close()
    assert got["id"] > id1
    assert [e["id"] for e in store.events()] == [id1, got["id"]]


def test_postgresql_consumer_wakes_on_notify(store_url):
    """Without NOTIFY the consumer would first look again after 15 s (its idle timeout; the poll
    interval is 60 s): it sees the new events within a few seconds."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite consumers poll")
    store = EvaluationStore.open(store_url)
    seen = []
    c = Consumer(store, "listener", poll_s=60, on_event=lambda ev, revs: seen.append(time.monotonic()))
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("res", c.follow(idle_timeout=15.0)))
    th.start()
    time.sleep(1.5)
    t0 = time.monotonic()
    _stored(store)
    th.join(120)
    assert not th.is_alive() and out["res"].handled == 9
    assert seen[0] - t0 < 8.0, seen[0] - t0


def _cli(*args, env=None, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env, **kw)


def _state_matches_store(store):
    view = state_frame(store)
    for _, row in view.iterrows():
        fresh = state_row(store, row["world_id"], row["strategy_id"], 0)
        for col in ("current_verdict", "recommended_stage", "run_id", "deep_validation", "open_findings",
                    "overrides_due", "lifecycle_stage"):
            assert row[col] == fresh[col], (row["strategy_id"], col)


def test_kill_9_mid_stream_then_resume(store_url, tmp_path):
    """A real `events follow` process killed with SIGKILL (1) right after an event's effect and
    before its offset commit, (2) at an arbitrary moment from outside; each resumes: every
    event handled, no effect applied twice."""
    store = EvaluationStore.open(store_url)
    keys = _stored(store, ("good_strategies_runs.json", "borderline_strategies_runs.json"))
    ids = [e["id"] for e in store.events()]
    env = dict(os.environ)
    target = ids[len(ids) // 2]
    proc = _cli("events", "follow", "--consumer", "k", "--poll", "0.2", "--store-url", store_url,
                env={**env, KILL_ENV: str(target)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    off = read_offsets(store.engine).get("k", 0)
    assert off == ids[ids.index(target) - 1]            # the killed event's offset was never committed
    done_before = {k for k in keys if _revisions(store, k, "extended_validation")}
    assert done_before                                   # ... but effects up to and including it were
    # (2) kill from outside while it works through the rest
    p = subprocess.Popen([CLI, "events", "follow", "--consumer", "k", "--poll", "0.2", "--store-url", store_url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    while read_offsets(store.engine).get("k", 0) == off and time.monotonic() - t0 < 120 and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    assert p.returncode == -signal.SIGKILL
    mid = read_offsets(store.engine)["k"]
    assert mid > off
    res = _cli("events", "follow", "--once", "--consumer", "k", "--store-url", store_url)
    assert res.returncode == 0, res.stderr
    all_ids = [e["id"] for e in store.events()]
    assert read_offsets(store.engine)["k"] == all_ids[-1]
    for k in keys:
        assert len(_revisions(store, k, "extended_validation")) == 1, k
    deep_events = [e for e in store.events("evaluation_run_updated")
                   if (e["payload"] or {}).get("change_type") == "extended_validation"]
    assert len(deep_events) == len(keys) == len({(e["strategy_id"], e["run_id"]) for e in deep_events})
    assert sorted(state_frame(store)["strategy_id"]) == sorted(k.strategy_id for k in keys)
    _state_matches_store(store)


def test_follow_refuses_a_bad_consumer_name(sqlite_url):
    res = invoke("events", "follow", "--once", "--consumer", "../x", "--store-url", sqlite_url)
    assert res.returncode == 2 and "consumer" in res.stderr
    assert "k" not in read_offsets(EvaluationStore.open(sqlite_url).engine)


def test_state_command_lists_the_view(sqlite_url):
    store = EvaluationStore.open(sqlite_url)
    key = _stored(store)[0]
    assert invoke("events", "follow", "--once", "--store-url", sqlite_url).returncode == 0
    res = invoke("events", "state", "--store-url", sqlite_url)
    assert res.returncode == 0 and key.strategy_id in res.stdout and "pass" in res.stdout
    assert isinstance(key, RunKey)
