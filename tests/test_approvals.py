"""Approval decisions: governance files, the append-only approvals table, RACI refusals,
lifecycle transitions, the derived stage, the report block and the command line."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import pytest
import yaml
from sqlalchemy import func, select, text

from conftest import invoke

from qmtl_research.config import WorldConfig
from qmtl_research.errors import ConfigError, InputError, StoreError
from qmtl_research.paths import params_dir
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.approval_tables import append_approval, approvals, list_approvals
from qmtl_research.store.db import SCHEMA_VERSION
from qmtl_research.store.tables import events, schema_info
from qmtl_research.governance.approvals import (DecisionRefused, approval_block, current_stage, record_decision,
                                                starting_stage)
from qmtl_research.governance.raci import load_governance, load_lifecycle, load_raci_matrix
from qmtl_research.governance.overrides import record_override
from qmtl_research.governance.runs import record_ex_post_failure

UTC = dt.timezone.utc
GOV = params_dir() / "governance"
WORLD, STRAT = "fund-rating", "demo"          # demo's model card says lifecycle_stage: validation
REPORT_SIGNERS = {"Risk": "A/R"}               # raci.yaml, "Validation Report writing / approval"


def _run(store, run_id, *, verdict="pass", stage="backtest", world=WORLD, strategy=STRAT, evaluate=True):
    key = RunKey(world, strategy, run_id)
    store.create_run(key, stage=stage, model_card_version="v1")
    if evaluate:
        store.evaluate_run(key, metrics={}, validation={"profile": stage},
                           summary={"status": verdict, "recommended_stage": "paper_only"})
    return key


def _report(store, key, version="v0001"):
    store.register_report(strategy_id=key.strategy_id, world_id=key.world_id, version=version, run_id=key.run_id,
                          path=f"reports/{key.strategy_id}/{key.world_id}/{version}", files={}, manifest={})


def _counts(store):
    with store.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(approvals)).scalar(),
                conn.execute(select(func.count()).select_from(events)
                             .where(events.c.event_type == "approval_recorded")).scalar())


@pytest.fixture
def store(sqlite_url):
    s = EvaluationStore.open(sqlite_url)
    yield s
    s.engine.dispose()


@pytest.fixture
def any_store(store_url):
    s = EvaluationStore.open(store_url)
    yield s
    s.engine.dispose()


# ------------------------------------------------------------------ governance files
def test_shipped_governance_files_agree_with_the_raci_table():
    gov = load_governance()
    raw = yaml.safe_load((GOV / "raci.yaml").read_text())
    by_activity = {row["activity"]: row for row in raw["activities"]}
    for t in gov.lifecycle.transitions:
        expected = {r: by_activity[t.activity][r] for r in raw["roles"] if by_activity[t.activity][r] in ("A", "R", "A/R")}
        assert gov.signers(t.activity) == expected and expected
    assert gov.signers("Validation Report writing / approval") == REPORT_SIGNERS
    assert gov.signers("Paper promotion decision") == {"Owner": "A"}
    assert gov.signers("Live promotion / halt decision") == {"Risk": "A", "Ops": "A", "Gov": "R"}
    # the sketch's stages in order, and the final stage has no way out
    assert gov.lifecycle.stage_names == ["development", "pre_validation", "validation", "approval", "paper",
                                         "live_monitoring", "review", "decommissioned"]
    assert gov.lifecycle.transitions_from("decommissioned") == []


def test_shipped_model_cards_name_known_lifecycle_stages():
    names = load_governance().lifecycle.stage_names
    for path in sorted((params_dir() / "model_cards").glob("*.y*ml")):
        stage = yaml.safe_load(path.read_text()).get("lifecycle_stage")
        assert stage is None or stage in names, path


def _write(tmp_path, name, body):
    p = tmp_path / name
    p.write_text(body)
    return p


def test_raci_errors_name_file_line_and_field(tmp_path):
    bad_letter = _write(tmp_path, "r1.yaml", "roles: [Owner, Risk]\nactivities:\n  - {activity: a, Owner: R, Risk: X}\n")
    with pytest.raises(ConfigError, match=r"r1.yaml:3 field 'activities.0.Risk'"):
        load_raci_matrix(bad_letter)
    missing = _write(tmp_path, "r2.yaml", "roles: [Owner, Risk]\nactivities:\n  - {activity: a, Owner: R, Risk: A}\n"
                                          "  - {activity: b, Owner: R}\n")
    with pytest.raises(ConfigError, match=r"r2.yaml:4 field 'activities.1': activity 'b' has no letter for role\(s\) \['Risk'\]"):
        load_raci_matrix(missing)


LC_HEAD = ("start_without_model_card: s1\nstages:\n  - {stage: s1, phase: P1, cleared_for: backtest}\n"
           "  - {stage: s2, phase: P2, cleared_for: paper}\ntransitions:\n")
RACI = "roles: [Owner, Risk]\nactivities:\n  - {activity: sign, Owner: C, Risk: A}\n  - {activity: nobody, Owner: C, Risk: I}\n"


@pytest.mark.parametrize("rows, message", [
    ("  - {from: s1, decision: approve, to: s2, activity: missing, run_stages: [backtest]}\n",
     r"lc.yaml:6 field 'transitions.0.activity': activity 'missing' is not in the RACI table"),
    ("  - {from: s1, decision: approve, to: s2, activity: nobody, run_stages: [backtest]}\n",
     r"lc.yaml:6 field 'transitions.0.activity': nobody may sign 'nobody'"),
    ("  - {from: s1, decision: approve, to: s3, activity: sign, run_stages: [backtest]}\n",
     r"lc.yaml:6 field 'transitions.0.to': unknown stage 's3'"),
    ("  - {from: s1, decision: approve, to: s2, activity: sign, run_stages: [backtest]}\n"
     "  - {from: s1, decision: conditional, to: s1, activity: sign, run_stages: [backtest]}\n",
     r"lc.yaml:7 field 'transitions.1.to': conditional from 's1' goes to 's1' but approve goes to 's2'"),
    ("  - {from: s1, decision: approve, to: s2, activity: sign, run_stages: [backtest]}\n"
     "  - {from: s1, decision: approve, to: s1, activity: sign, run_stages: [backtest]}\n",
     r"lc.yaml:7 field 'transitions.1': a second 'approve' transition from 's1'"),
    ("  - {from: s1, decision: maybe, to: s2, activity: sign, run_stages: [backtest]}\n",
     r"lc.yaml:6 field 'transitions.0.decision'"),
])
def test_lifecycle_errors_name_file_line_and_field(tmp_path, rows, message):
    raci = load_raci_matrix(_write(tmp_path, "raci.yaml", RACI))
    with pytest.raises(ConfigError, match=message):
        load_lifecycle(raci, _write(tmp_path, "lc.yaml", LC_HEAD + rows))


def test_a_model_card_with_an_unknown_stage_is_refused_with_its_line(tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(GOV, home / "params" / "governance")
    (home / "params" / "model_cards").mkdir(parents=True)
    (home / "params" / "model_cards" / "x.yaml").write_text(
        "strategy_id: x\nmodel_card_version: v1\nobjective: test\nlifecycle_stage: validaton\n")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(home))
    with pytest.raises(ConfigError, match=r"x.yaml:4 field 'lifecycle_stage'") as err:
        starting_stage("x")
    assert "development, pre_validation, validation" in err.value.fix
    assert starting_stage("nocard")[0] == "development"   # start_without_model_card


# ----------------------------------------------------------------------- the store
def test_decisions_are_append_only_in_the_database(any_store):
    key = _run(any_store, "r1")
    _report(any_store, key)
    record_decision(any_store, key, decision="approve", actor="Kim", role="Risk", reason="report read",
                    report_version="v0001")
    for sql in ("UPDATE approvals SET reason = 'changed'", "DELETE FROM approvals"):
        with pytest.raises(Exception, match="append-only"):
            with any_store.engine.begin() as conn:
                conn.execute(text(sql))
    (row,) = list_approvals(any_store)
    assert row["reason"] == "report read" and _counts(any_store) == (1, 1)


def test_database_checks_refuse_incomplete_rows(any_store):
    base = dict(world_id="w", strategy_id="s", seq=1, run_id="r", decision="conditional", actor="a", role="Risk",
                role_letter="A", activity="x", reason="why", conditions=None, review_by=None, stage_before="a",
                stage_after="b", governance_hash="h", content_hash="c", idempotency_key="k", payload={},
                created_at=dt.datetime.now(UTC))
    for bad in ({}, {"decision": "approve", "reason": "  "}, {"decision": "maybe"}):
        with pytest.raises(Exception, match="(?i)check"):
            with any_store.engine.begin() as conn:
                conn.execute(approvals.insert().values(**{**base, **bad}))
    assert _counts(any_store) == (0, 0)


def test_an_older_store_is_upgraded_and_a_newer_one_refused(store_url):
    s = EvaluationStore.open(store_url)
    with s.engine.begin() as conn:          # make it look like a version-1 store (before approvals)
        conn.execute(text("DROP TABLE approvals"))
        conn.execute(schema_info.update().values(version=1))
    s.engine.dispose()
    s = EvaluationStore.open(store_url)
    with s.engine.connect() as conn:
        assert conn.execute(select(schema_info.c.version)).scalar() == SCHEMA_VERSION == 2
    key = _run(s, "r1")
    _report(s, key)
    record_decision(s, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001")
    with pytest.raises(Exception, match="append-only"):     # the guards come with the created table
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM approvals"))
    with s.engine.begin() as conn:
        conn.execute(schema_info.update().values(version=SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match="newer than this code"):
        EvaluationStore.open(store_url)
    s.engine.dispose()


def test_a_stale_sequence_number_is_refused_and_writes_nothing(store):
    key = _run(store, "r1")
    _report(store, key)
    rec = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001")
    row = {k: v for k, v in rec.record.items() if k not in ("id", "seq")}
    with pytest.raises(StoreError, match="was recorded .* while this one"):
        append_approval(store, {**row, "idempotency_key": "other"}, seq=1)   # decided on the stage before #1
    assert _counts(store) == (1, 1)


# ---------------------------------------------------------------- the lifecycle path
def test_the_full_lifecycle_moves_only_through_decisions(store):
    assert current_stage(store, WORLD, STRAT) == "validation"        # the model card
    bt = _run(store, "bt1")
    _report(store, bt)
    steps = [  # (run, decision, role, expected stage after)
        (bt, "approve", "Risk", "approval"),
        (bt, "approve", "Owner", "paper"),
    ]
    for key, decision, role, after in steps:
        extra = {"report_version": "v0001"} if after == "approval" else {}
        rec = record_decision(store, key, decision=decision, actor="Kim", role=role, reason=f"{decision} {after}", **extra)
        assert rec.recorded and rec.stage_after == after == current_stage(store, WORLD, STRAT)
    with pytest.raises(DecisionRefused, match="judged for stage 'backtest'.* needs a run judged for paper"):
        record_decision(store, bt, decision="approve", actor="Lee", role="Ops", reason="go live")
    paper = _run(store, "pp1", stage="paper")
    live = _run(store, "lv1", stage="live")
    for key, decision, role, after in [(paper, "approve", "Ops", "live_monitoring"),
                                       (live, "approve", "Risk", "live_monitoring"),   # continued use
                                       (live, "reject", "Gov", "review"),             # halt (Gov is R)
                                       (live, "reject", "Risk", "decommissioned")]:
        rec = record_decision(store, key, decision=decision, actor="Lee", role=role, reason=f"{decision} -> {after}")
        assert rec.stage_after == after == current_stage(store, WORLD, STRAT)
    with pytest.raises(DecisionRefused, match="'decommissioned' is final|no 'approve' decision"):
        record_decision(store, live, decision="approve", actor="Lee", role="Risk", reason="again")
    hist = approval_block(store, live).history
    assert list(hist["transition"]) == ["validation -> approval", "approval -> paper", "paper -> live_monitoring",
                                        "live_monitoring -> live_monitoring", "live_monitoring -> review",
                                        "review -> decommissioned"]
    assert list(hist["seq"]) == [1, 2, 3, 4, 5, 6] and _counts(store) == (6, 6)
    # the other world's stage of the same strategy is untouched
    assert current_stage(store, "portfolios", STRAT) == "validation"


def test_reject_moves_back_and_the_same_decision_later_is_recorded_again(store):
    key = _run(store, "r1")
    _report(store, key)
    first = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001")
    again = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001")
    assert first.recorded and not again.recorded and again.seq == 1 and _counts(store) == (1, 1)
    record_decision(store, key, decision="reject", actor="Park", role="Owner", reason="paper not yet")
    assert current_stage(store, WORLD, STRAT) == "validation"       # approval --reject--> validation
    third = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001")
    assert third.recorded and third.seq == 3 and current_stage(store, WORLD, STRAT) == "approval"


def test_an_explicit_idempotency_key_is_never_reused_for_another_decision(store):
    key = _run(store, "r1")
    _report(store, key)
    a = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001",
                        idempotency_key="ticket-17")
    b = record_decision(store, key, decision="approve", actor="Kim", role="Risk", reason="ok", report_version="v0001",
                        idempotency_key="ticket-17")
    assert a.recorded and not b.recorded and b.record["id"] == a.record["id"]
    with pytest.raises(DecisionRefused, match="ticket-17' was used for another decision"):
        record_decision(store, key, decision="reject", actor="Park", role="Owner", reason="no", idempotency_key="ticket-17")
    assert _counts(store) == (1, 1)


# ------------------------------------------------------------------------- refusals
REFUSALS = [  # (setup, decision kwargs, exception, message)
    ("pass", dict(decision="approve", role="Quant", reason="x", report_version="v0001"), DecisionRefused,
     r"role Quant is 'C' for 'Validation Report writing / approval'"),
    ("pass", dict(decision="approve", role="Auditor", reason="x", report_version="v0001"), DecisionRefused,
     r"unknown role 'Auditor'"),
    ("pass", dict(decision="approve", role="Risk", reason="  ", report_version="v0001"), InputError, r"needs reason"),
    ("pass", dict(decision="approve", role="Risk", reason="x"), DecisionRefused, r"signs the Validation Report: name its version"),
    ("pass", dict(decision="approve", role="Risk", reason="x", report_version="v0009"), DecisionRefused,
     r"'v0009' is not registered"),
    ("pass", dict(decision="conditional", role="Risk", reason="x", report_version="v0001"), InputError,
     r"needs its conditions"),
    ("pass", dict(decision="approve", role="Risk", reason="x", report_version="v0001", review_by="2030-01-01"),
     InputError, r"belong to conditional decisions"),
    ("pass", dict(decision="conditional", role="Risk", reason="x", report_version="v0001", conditions="c",
                  review_by="2020-01-01"), InputError, r"is not after the decision date"),
    ("pass", dict(decision="conditional", role="Risk", reason="x", report_version="v0001", conditions="c"),
     InputError, r"needs a review date"),
    ("fail", dict(decision="approve", role="Risk", reason="x", report_version="v0001"), DecisionRefused,
     r"failed validation and has no approved override"),
    ("fail", dict(decision="conditional", role="Risk", reason="x", report_version="v0001", conditions="c",
                  review_by="2099-01-01"), DecisionRefused, r"failed validation and has no approved override"),
    ("created", dict(decision="reject", role="Risk", reason="x"), DecisionRefused, r"is 'created'; decisions are made on evaluated"),
    ("superseded", dict(decision="approve", role="Risk", reason="x", report_version="v0001"), DecisionRefused,
     r"not the latest evaluated backtest run .* r2 .* supersedes it"),
]


@pytest.mark.parametrize("setup, kwargs, exc, message", REFUSALS)
def test_refused_decisions_write_nothing(store, setup, kwargs, exc, message):
    key = _run(store, "r1", verdict="fail" if setup == "fail" else "pass", evaluate=setup != "created")
    _report(store, key)
    if setup == "superseded":
        _run(store, "r2")
    before = _counts(store)
    with pytest.raises(exc, match=message) as err:
        record_decision(store, key, actor="Kim", **kwargs)
    assert _counts(store) == before == (0, 0)
    if "role" in message:
        assert "Risk (A/R)" in str(err.value)   # names the roles that may sign


def test_approving_a_failed_run_needs_a_current_approved_override(store):
    world = WorldConfig(world_id=WORLD, risk_tier="high", client_critical=True, policy_file="policies/fund-rating.yml")
    key = _run(store, "r1", verdict="fail")
    _report(store, key)
    # reject needs no override
    sign = dict(actor="Kim", role="Risk", reason="accepted: benchmark failure understood", report_version="v0001")
    record_override(store, key, world, status="rejected", actor="Lee", role="Gov", reason="no")
    with pytest.raises(DecisionRefused, match="latest override .* is 'rejected'"):
        record_decision(store, key, decision="approve", **sign)
    t0 = dt.datetime.now(UTC)
    rev = record_override(store, key, world, status="approved", actor="Lee", role="Gov", reason="known limitation", timestamp=t0)
    with pytest.raises(DecisionRefused, match="was due"):        # 30-day window (high tier, client critical)
        record_decision(store, key, decision="approve", now=t0 + dt.timedelta(days=31), **sign)
    rec = record_decision(store, key, decision="approve", now=t0 + dt.timedelta(days=29), **sign)
    assert rec.record["override_revision"] == rev and rec.record["verdict"] == "fail"
    # an ex-post failure after the override is not covered by it
    key2 = _run(store, "r2", verdict="fail", strategy="real-funds")
    _report(store, key2)
    record_override(store, key2, world, status="approved", actor="Lee", role="Gov", reason="known", timestamp=t0)
    record_ex_post_failure(store, key2, reason="live VaR breach", actor="Ops")
    with pytest.raises(DecisionRefused, match="ex-post failure .* live VaR breach"):
        record_decision(store, key2, decision="approve", now=t0 + dt.timedelta(days=1), **sign)
    assert record_decision(store, key2, decision="reject", actor="Kim", role="Risk", reason="breach",
                           now=t0 + dt.timedelta(days=1)).stage_after == "development"


def test_conditional_approval_defaults_its_review_date_to_the_override_window(store):
    t0 = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    critical = WorldConfig(world_id=WORLD, risk_tier="high", client_critical=True, policy_file="x")
    key = _run(store, "r1")
    _report(store, key)
    rec = record_decision(store, key, decision="conditional", actor="Kim", role="Risk", reason="ok with limits",
                          conditions="re-run with 2024 data", report_version="v0001", world=critical, now=t0)
    assert rec.record["review_by"] == dt.date(2026, 3, 31)       # 30 days
    medium = WorldConfig(world_id="w2", risk_tier="medium", policy_file="x")
    key2 = _run(store, "r2", world="w2")
    _report(store, key2)
    rec2 = record_decision(store, key2, decision="conditional", actor="Kim", role="Risk", reason="ok",
                           conditions="c", report_version="v0001", world=medium, now=t0)
    assert rec2.record["review_by"] == dt.date(2026, 5, 30)      # 90 days
    block = approval_block(store, key, now=dt.datetime(2026, 4, 1, tzinfo=UTC))
    assert block.current_stage == "approval"
    assert block.conditions_in_force["conditions"] == "re-run with 2024 data" and block.conditions_in_force["overdue"]
    assert not approval_block(store, key, now=t0).conditions_in_force["overdue"]


# ----------------------------------------------------------------------- the block
def test_approval_block_for_the_report(store):
    key = _run(store, "r1", verdict="fail")
    block = approval_block(store, key)
    assert (block.current_stage, block.starting_stage, block.phase) == ("validation", "validation", "Validation")
    assert "demo.yaml" in block.starting_source and block.history.empty
    signers = block.signers
    assert set(signers["decision"]) == {"approve", "conditional", "reject"}
    assert {(r.role, r.letter) for r in signers.itertuples()} == {("Risk", "A/R")}
    assert "no approved override" in block.run_refusals["approve"]
    assert "no report is registered for run" in block.run_refusals["approve"]
    assert block.run_refusals["reject"] is None
    # while its report v0001 is being rendered, the block does not call it missing
    assert "no report" not in approval_block(store, key, rendering="v0001").run_refusals["approve"]
    record_decision(store, key, decision="reject", actor="Kim", role="Risk", reason="benchmark lost")
    block = approval_block(store, key)
    assert block.current_stage == "development" and block.starting_stage == "validation"
    row = block.history.iloc[0]
    assert (row.actor, row.role, row.decision, row.reason, row.transition, row.verdict) == \
        ("Kim", "Risk", "reject", "benchmark lost", "validation -> development", "fail")
    assert {(r.role, r.letter) for r in block.signers.itertuples()} == {("Owner", "A"), ("Quant", "R")}
    json.dumps(block.to_dict())


def test_a_broken_decision_chain_is_reported(store):
    key = _run(store, "r1")
    record_decision(store, key, decision="reject", actor="Kim", role="Risk", reason="no")
    forged = {**list_approvals(store)[0], "seq": 2, "stage_before": "paper", "idempotency_key": "forged"}
    forged.pop("id")
    with store.engine.begin() as conn:
        conn.execute(approvals.insert().values(**forged))
    with pytest.raises(StoreError, match="chain .* is broken at #2"):
        current_stage(store, WORLD, STRAT)


# ------------------------------------------------------------------ command line
def _cli(args, url):
    """``qmtl-research ARGS`` through the CLI's ``main()`` in this process, against the store ``url``."""
    return invoke(*args, env={**os.environ, "QMTL_STORE_URL": url})


def test_cli_approve_and_list(sqlite_url):
    store = EvaluationStore.open(sqlite_url)
    key = _run(store, "demo-r1")
    _report(store, key)
    _run(store, "shared-id", strategy="real-funds")
    _run(store, "shared-id", strategy="audit-demo", world="portfolios")
    sign = ["--decision", "approve", "--actor", "Kim", "--reason", "report v0001 read", "--report-version", "v0001"]

    refused = _cli(["approve", "--run", "demo-r1", "--role", "Ops", *sign], sqlite_url)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "'Validation Report writing / approval'" in refused.stderr and "role Ops is 'C'" in refused.stderr
    assert "Risk (A/R)" in refused.stderr and _counts(store) == (0, 0)

    ok = _cli(["approve", "--run", "demo-r1", "--role", "Risk", *sign], sqlite_url)
    assert ok.returncode == 0, ok.stderr
    assert "recorded decision #1 for demo in fund-rating: approve, validation -> approval" in ok.stdout
    assert "Kim as Risk (A/R)" in ok.stdout and _counts(store) == (1, 1)
    again = _cli(["approve", "--run", "demo-r1", "--role", "Risk", *sign], sqlite_url)
    assert again.returncode == 0 and "nothing written" in again.stdout and _counts(store) == (1, 1)

    ambiguous = _cli(["approve", "--run", "shared-id", "--role", "Risk", *sign], sqlite_url)
    assert ambiguous.returncode == 2 and "several strategies" in ambiguous.stderr

    listed = _cli(["approvals", "list", "--strategy", "demo", "--output", "json"], sqlite_url)
    assert listed.returncode == 0, listed.stderr
    (block,) = json.loads(listed.stdout)
    assert block["current_stage"] == "approval" and block["starting_stage"] == "validation"
    assert [h["transition"] for h in block["history"]] == ["validation -> approval"]
    assert [(s["decision"], s["role"], s["letter"]) for s in block["signers"]] == \
        [("approve", "Owner", "A"), ("conditional", "Owner", "A"), ("reject", "Owner", "A")]
    text_out = _cli(["approvals", "list", "--world", "fund-rating"], sqlite_url)
    assert text_out.returncode == 0
    assert "fund-rating / demo: lifecycle stage approval" in text_out.stdout
    assert "fund-rating / real-funds: lifecycle stage validation" in text_out.stdout
    ev = _cli(["events", "export", "--type", "approval_recorded"], sqlite_url)
    assert ev.returncode == 0 and [json.loads(line)["payload"]["stage_after"] for line in ev.stdout.splitlines()] == \
        ["approval"]
    store.engine.dispose()
