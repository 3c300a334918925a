"""Runs, overrides, events, health, invariants and policy diff against a temporary store."""
import datetime as dt
import json
import shutil

import pytest
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.config import ModelCard, WorldConfig, load_world
from qmtl_research.errors import InputError, StoreError
from qmtl_research.paths import params_dir
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.validation.diff import policy_diff
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.governance.events import events_frame, export_jsonl, sync_policy
from qmtl_research.validation.health import validation_health
from qmtl_research.governance.invariants import check_invariants
from qmtl_research.governance.overrides import overdue_reviews, overrides_frame, record_override, review_window_days
from qmtl_research.validation.policy import load_policy, parse_policy
from qmtl_research.validation.qmtl_runs import load_runs
from qmtl_research.governance.runs import (effective_summary, record_ex_post_failure, reevaluate, store_outcome)

QMTL = params_dir() / "qmtl"
# QMTL's fixture strategies have no model card here: the independence check reads this one
CARD = ModelCard(strategy_id="qmtl-fixtures", model_card_version="v1.0", objective="QMTL fixture runs",
                 owner="Fixture Owner", developer=["Fixture Developer"])
POLICY = params_dir() / "policies" / "qmtl_sample_policy.yml"
UTC = dt.timezone.utc


@pytest.fixture
def store(sqlite_url):
    return EvaluationStore.open(sqlite_url)


def _world(tier="medium", critical=False, wid="qmtl-sample"):
    return WorldConfig(world_id=wid, risk_tier=tier, client_critical=critical, policy_file="policies/qmtl_sample_policy.yml")


def _stored(store, file="good_strategies_runs.json", stage="backtest", world="qmtl-sample"):
    outs = evaluate_batch(load_runs(QMTL / file), load_policy(POLICY), stage, policy_version="v1")
    return [store_outcome(store, o, world_id=world, model_card_version="v1.0") for o in outs]


def test_evaluated_runs_are_immutable_and_record_versions(store):
    key = _stored(store)[0]
    run = store.get_run(key)
    assert run["status"] == "evaluated" and run["ruleset_hash"].startswith("sha256:")
    assert run["model_card_version"] == "v1.0" and run["policy_version"] == "v1"
    assert run["summary"]["model_card_version"] == "v1.0" and run["validation"]["profile"] == "backtest"
    with pytest.raises(StoreError):
        store.evaluate_run(key, metrics={}, validation={}, summary={})
    with pytest.raises(StoreError):
        store.put_result(key, "validation", "rules", {"x": 1})
    outs = evaluate_batch(load_runs(QMTL / "good_strategies_runs.json"), load_policy(POLICY), "backtest")
    with pytest.raises(StoreError):     # the same run id again: never overwritten
        store_outcome(store, outs[0], world_id="qmtl-sample")


def test_reevaluation_makes_a_new_run(store):
    key = _stored(store, "borderline_strategies_runs.json")[0]
    strict = load_policy(POLICY).model_dump(mode="json")
    strict["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.7
    new = reevaluate(store, key, parse_policy(strict), policy_version="v2")
    assert new.run_id == f"{key.run_id}-re1"
    assert store.get_run(new)["summary"]["status"] == "fail" and store.get_run(key)["summary"]["status"] == "pass"
    assert store.get_run(new)["params"]["reevaluation_of"] == key.run_id
    assert reevaluate(store, key, parse_policy(strict), policy_version="v2").run_id == f"{key.run_id}-re2"


def test_history_ex_post_failure(store):
    key = _stored(store)[0]
    rev = record_ex_post_failure(store, key, reason="live loss beyond stress", actor="risk")
    assert rev == 1 and effective_summary(store, key)["status"] == "fail"
    assert store.get_run(key)["summary"]["status"] == "pass"          # the run itself never changes
    with pytest.raises(InputError):
        record_ex_post_failure(store, key, reason=" ", actor="risk")


@pytest.mark.parametrize("tier,critical,stage,days", [("high", True, "backtest", 30), ("high", False, "backtest", 90),
                                                      ("medium", True, "backtest", 90), ("low", False, "live", 30)])
def test_review_windows(tier, critical, stage, days):
    assert review_window_days(_world(tier, critical), stage) == days


def test_override_requires_fields_and_stores_nothing_otherwise(store):
    key = _stored(store)[0]
    world = _world()
    for actor, reason in ((None, "ok"), ("alice", None), ("  ", "ok"), ("alice", "  ")):
        with pytest.raises(InputError):
            record_override(store, key, world, role="Risk", card=CARD, status="approved", actor=actor, reason=reason)
    with pytest.raises(InputError):
        record_override(store, key, world, role="Risk", card=CARD, status="maybe", actor="a", reason="r")
    assert store.history(key) == []
    created = store.create_run(RunKey("qmtl-sample", "x", "r1"))
    with pytest.raises(StoreError):
        record_override(store, created, world, role="Risk", card=CARD, status="approved", actor="a", reason="r")
    assert store.history(created) == []


def test_override_review_and_overdue(store):
    k1, k2, _ = _stored(store)
    world = _world("high", True)
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    record_override(store, k1, world, role="Risk", card=CARD, status="approved", actor="alice", reason="accepted risk", timestamp=t0)
    record_override(store, k2, world, role="Risk", card=CARD, status="approved", actor="bob", reason="temp", timestamp=t0)
    record_override(store, k2, world, role="Risk", card=CARD, status="revoked", actor="bob", reason="ended", timestamp=t0 + dt.timedelta(days=1))
    f = overrides_frame(store, "qmtl-sample", now=t0 + dt.timedelta(days=30))
    assert f.loc[f.run_id == k1.run_id, "review_due"].iloc[0].startswith("2026-01-31")
    assert not f["overdue"].any()
    late = overdue_reviews(store, "qmtl-sample", now=t0 + dt.timedelta(days=31))
    assert list(late["run_id"]) == [k1.run_id]                        # k2's approval was revoked
    s = effective_summary(store, k1)
    assert (s["override_status"], s["override_actor"], s["override_reason"]) == ("approved", "alice", "accepted risk")


def test_events_idempotent_and_exported(store, tmp_path):
    key = _stored(store)[0]
    world = load_world("qmtl-sample")
    assert sync_policy(store, world) == ["backtest", "paper", "live"]
    assert sync_policy(store, world) == []                            # same ruleset: nothing new
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert record_override(store, key, world, role="Risk", card=CARD, status="approved", actor="a", reason="r", timestamp=t0) == 1
    assert record_override(store, key, world, role="Risk", card=CARD, status="approved", actor="a", reason="r", timestamp=t0) == 1
    assert record_override(store, key, world, role="Risk", card=CARD, status="rejected", actor="a", reason="r", timestamp=t0) == 2
    ev = events_frame(store)
    assert set(ev["event_type"]) == {"evaluation_run_created", "evaluation_run_updated", "validation_profile_changed"}
    upd = ev[ev.event_type == "evaluation_run_updated"]
    # 3 stored verdicts (change_type evaluated, revision 0) and 2 distinct overrides
    assert [p["change_type"] for p in upd["payload"]].count("evaluated") == 3
    assert [p["change_type"] for p in upd["payload"]].count("override") == 2 and len(upd) == 5
    verdict = next(p for p in upd["payload"] if p["change_type"] == "evaluated")
    assert verdict["revision"] == 0 and verdict["status"] == "pass" and verdict["ruleset_hash"].startswith("sha256:")
    assert set(ev["qmtl_event_type"]) == {"EvaluationRunCreated", "EvaluationRunUpdated", "ValidationProfileChanged"}
    assert ev["idempotency_key"].is_unique
    assert not store.emit_event("evaluation_run_created", key, {}, idempotency_key=f"evaluation_run_created:{key}")
    out = tmp_path / "events.jsonl"
    n = export_jsonl(store, out)
    lines = out.read_text().splitlines()
    assert n == len(ev) == len(lines) and json.loads(lines[0])["event_type"] == "evaluation_run_created"
    assert [json.loads(x)["qmtl_event_type"] for x in lines] == list(ev["qmtl_event_type"])
    assert json.loads(lines[0])["qmtl_event_type"] == "EvaluationRunCreated"
    assert len(events_frame(store, "EvaluationRunUpdated")) == 5            # QMTL's spelling filters too
    with pytest.raises(InputError):
        events_frame(store, "evaluation_run_deleted")
    assert len(events_frame(store, "validation_profile_changed", world_id="qmtl-sample")) == 3


def test_health_counts(store):
    _stored(store)
    _stored(store, "borderline_strategies_runs.json")
    world = load_world("qmtl-sample")
    sync_policy(store, world)
    h = validation_health(store, "qmtl-sample")
    row = h.iloc[0]
    assert (row.world_id, row.stage, row.n_runs) == ("qmtl-sample", "backtest", 6)
    assert row.metric_coverage_ratio == pytest.approx(8 / 12)   # fixtures: 8 of 12 core paths
    assert row.rules_executed_ratio == 1.0 and row.validation_error_count == 0
    assert row.validation_policy_age_days < 1 and row.ruleset_change_count_last_90d == 0
    changed = world.model_copy(update={"policy_file": None, "policy": {"validation_profiles": {"backtest": {}}}})
    sync_policy(store, changed)
    assert validation_health(store, "qmtl-sample").iloc[0].ruleset_change_count_last_90d == 1
    later = dt.datetime.now(UTC) + dt.timedelta(days=91)
    assert validation_health(store, "qmtl-sample", now=later).iloc[0].ruleset_change_count_last_90d == 0


def test_invariants(store):
    world = _world("high", True)
    items = {i.name: i.status for i in check_invariants(store, world)}
    # QMTL's sample policy sets no `validation`: QMTL's defaults (on_error and on_missing_metric fail)
    assert items == {"latest_live_run_passes": "not_applicable", "fail_closed": "pass",
                     "overrides_complete_and_current": "not_applicable"}
    lax = WorldConfig(world_id="portfolios", risk_tier="high", client_critical=True, policy_file="policies/portfolios.yml")
    assert {i.name: i.status for i in check_invariants(store, lax)}["fail_closed"] == "fail"   # on_missing warn
    keys = _stored(store, "borderline_strategies_runs.json", stage="live")
    items = {i.name: i for i in check_invariants(store, world)}
    # live runs judged by the paper profile (sharpe_min 0.8): the borderline runs no longer pass
    assert items["latest_live_run_passes"].status == "fail"
    record_override(store, keys[0], world, role="Risk", card=CARD, status="approved", actor="a", reason="r",
                    timestamp=dt.datetime(2020, 1, 1, tzinfo=UTC))
    items = {i.name: i for i in check_invariants(store, world)}
    assert items["overrides_complete_and_current"].status == "fail" and "overdue" in items["overrides_complete_and_current"].detail
    fund = load_world("fund-rating")
    assert {i.name: i.status for i in check_invariants(store, fund)}["fail_closed"] == "pass"


def test_policy_diff_on_the_fixtures(tmp_path):
    batches = [(f.name, load_runs(f)) for f in sorted(QMTL.glob("*_runs.json"))]
    same = policy_diff(load_policy(POLICY), load_policy(POLICY), batches, "backtest")
    assert same.n_runs == 32 and same.n_changed == 0 and not same.warn
    data = load_policy(POLICY).model_dump(mode="json", exclude_defaults=True)
    data["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.61
    d = policy_diff(load_policy(POLICY), parse_policy(data), batches, "backtest")
    # borderline_floor (0.6) fails now; borderline_hysteresis_blocked already failed
    assert list(d.changed()["run_id"]) == ["borderline-set-001"]
    assert d.n_status_changed == 1 and d.status_change_share == pytest.approx(1 / 32) and not d.warn
    data["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 1.0
    d = policy_diff(load_policy(POLICY), parse_policy(data), batches, "backtest")
    # sharpe 0.6, 0.61, 0.9, 0.7, 0.9 < 1.0: five passing runs fail now (5/32 > 5 %)
    assert set(d.changed()["run_id"]) == {"borderline-set-001", "borderline-set-003", "good-set-002", "good-set-003",
                                          "bad-set-002"} and d.warn and d.n_status_changed == 5
    new = tmp_path / "new.yml"
    import yaml
    new.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(app, ["policy", "diff", str(POLICY), str(new), "--runs", str(QMTL)])
    assert res.exit_code == 1 and "good-set-003" in res.output


def test_cli_override_events_runs(sqlite_url, tmp_path, monkeypatch):
    r = CliRunner()
    res = r.invoke(app, ["validate", "--world", "qmtl-sample", "--runs", str(QMTL / "good_strategies_runs.json"),
                         "--record", "--store-url", sqlite_url])
    assert res.exit_code == 0, res.output
    base = ["--world", "qmtl-sample", "--strategy", "good_set_1", "--run", "good-set-001", "--store-url", sqlite_url]
    res = r.invoke(app, ["override", *base, "--status", "approved", "--actor", "alice", "--role", "Risk"])
    assert isinstance(res.exception, InputError) and "reason" in str(res.exception)
    sign = ["--status", "approved", "--actor", "alice", "--role", "Risk", "--reason", "accepted"]
    # QMTL's fixture strategy has no model card: independence cannot be shown, so it is refused
    res = r.invoke(app, ["override", *base, *sign])
    assert isinstance(res.exception, StoreError) and "no model card declares the owner and developer" in str(res.exception)
    # a project whose params/ hold a card for good_set_1
    shutil.copytree(params_dir(), tmp_path / "home" / "params")
    (tmp_path / "home" / "params" / "model_cards" / "good_set_1.yaml").write_text(
        "strategy_id: good_set_1\nmodel_card_version: v1\nobjective: QMTL fixture\nowner: Olga\ndeveloper: [Dan]\n")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path / "home"))
    res = r.invoke(app, ["override", *base, *sign])
    assert res.exit_code == 0 and "90 days" in res.output and "alice as Risk (A)" in res.output
    res = r.invoke(app, ["runs", "list", "--world", "qmtl-sample", "--store-url", sqlite_url])
    assert res.exit_code == 0 and "good-set-003" in res.output
    res = r.invoke(app, ["runs", "show", *base])
    assert json.loads(res.output)["effective_summary"]["override_actor"] == "alice"
    out = tmp_path / "ev.jsonl"
    res = r.invoke(app, ["events", "export", "--output", str(out), "--store-url", sqlite_url])
    assert res.exit_code == 0
    types = [json.loads(line)["event_type"] for line in out.read_text().splitlines()]
    # 3 verdicts stored (evaluation_run_updated, change_type evaluated) + 1 override
    assert types.count("evaluation_run_created") == 3 and types.count("evaluation_run_updated") == 4
    assert types.count("validation_profile_changed") == 3
    res = r.invoke(app, ["policy", "invariants", "--world", "qmtl-sample", "--store-url", sqlite_url])
    assert res.exit_code == 0 and "not_applicable" in res.output
    res = r.invoke(app, ["runs", "health", "--world", "qmtl-sample", "--store-url", sqlite_url])
    assert res.exit_code == 0 and "0.667" in res.output
