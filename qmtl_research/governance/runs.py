"""EvaluationRun lifecycle on top of the Evaluation Store.

created -> (running) -> evaluated, then immutable. Afterwards only history
revisions are appended (override | ex_post_failure; the store also accepts extended_validation);
re-evaluating (e.g. under a new policy) makes a **new** run_id that points back
at the run it re-evaluates. Every evaluated run records policy_version,
ruleset_hash, profile and the model-card version it was judged with.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from qmtl_research.errors import InputError, StoreError
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import utcnow
from qmtl_research.validation.engine import RunOutcome, evaluate_batch
from qmtl_research.validation.policy import Policy
from qmtl_research.validation.qmtl_runs import REQUIRED_BLOCKS, RunRecord
from qmtl_research.validation.rules import RuleResult


def summary_of(outcome: RunOutcome, model_card_version: str | None) -> dict[str, Any]:
    """The ``summary`` of a stored run (QMTL's fields; override fields start empty)."""
    return {"status": outcome.status, "recommended_stage": outcome.recommended_stage, "profile": outcome.profile,
            "policy_version": outcome.policy_version, "ruleset_hash": outcome.ruleset_hash,
            "model_card_version": model_card_version, "selected": outcome.selected,
            "override_status": None, "override_reason": None, "override_actor": None, "override_timestamp": None}


def store_outcome(store: EvaluationStore, outcome: RunOutcome, *, world_id: str | None = None,
                  risk_tier: str | None = None, model_card_version: str | None = None,
                  params: dict | None = None) -> RunKey:
    """Create (if needed) and evaluate the run of ``outcome``; the run is frozen afterwards."""
    run = outcome.run
    world = world_id or run.world_id
    if not world:
        raise InputError(f"run {run.run_id} has no world_id", fix="pass --world or set world_id in the export")
    key = RunKey(world, run.strategy_id, run.run_id)
    try:
        existing = store.get_run(key)
    except StoreError:
        existing = None
    if existing is None:
        store.create_run(key, stage=outcome.stage, risk_tier=risk_tier, model_card_version=model_card_version,
                         policy_version=outcome.policy_version, params=params)
    store.evaluate_run(key, metrics=run.metrics, validation=outcome.validation_payload(),
                       summary=summary_of(outcome, model_card_version), policy_version=outcome.policy_version,
                       ruleset_hash=outcome.ruleset_hash)
    return key


def record_of(row: dict[str, Any]) -> RunRecord:
    """A stored run as a RunRecord (for re-evaluation / policy diff)."""
    return RunRecord(row["strategy_id"], row["run_id"], row.get("metrics") or {}, row["world_id"], row.get("stage"))


def reevaluate(store: EvaluationStore, key: RunKey, policy: Policy, *, policy_version: str | None,
               new_run_id: str | None = None, stage: str | None = None, actor: str | None = None) -> RunKey:
    """Judge a stored run's metrics again under ``policy``; stores a NEW run (the old one is
    untouched) whose params name the run it re-evaluates."""
    old = store.get_run(key)
    if old["status"] != "evaluated":
        raise StoreError(f"run {key} is '{old['status']}', only evaluated runs are re-evaluated")
    metrics = old.get("metrics") or {}
    if not any(isinstance(metrics.get(b), dict) and any(v is not None for v in metrics[b].values())
               for b in REQUIRED_BLOCKS):
        raise StoreError(f"run {key} holds no metrics of its own (e.g. a compatibility check of imported QMTL "
                         "runs): re-evaluating it would read every metric as missing and store a FAIL",
                         where=f"run {key}: metrics",
                         fix="re-evaluate the runs it judged instead: `qmtl-research validate --world "
                             f"{key.world_id} --runs <export> --record`, or run the report again")
    rec = record_of(old)
    outcome = evaluate_batch([rec], policy, stage or old.get("stage") or "backtest", policy_version=policy_version)[0]
    n = len([r for r in store.list_runs(key.world_id, key.strategy_id) if r["run_id"].startswith(f"{key.run_id}-re")])
    rid = new_run_id or f"{key.run_id}-re{n + 1}"
    outcome.run = RunRecord(rec.strategy_id, rid, rec.metrics, key.world_id, rec.stage)
    return store_outcome(store, outcome, world_id=key.world_id, risk_tier=old.get("risk_tier"),
                         model_card_version=old.get("model_card_version"),
                         params={"reevaluation_of": key.run_id, "actor": actor})


def record_ex_post_failure(store: EvaluationStore, key: RunKey, *, reason: str, actor: str,
                           observed_at: dt.datetime | None = None) -> int:
    """Append an ex-post failure (e.g. a live breach found after the verdict) to an evaluated run."""
    if not reason.strip() or not actor.strip():
        raise InputError("an ex-post failure needs an actor and a reason", where=str(key))
    _require_evaluated(store, key)
    return store.append_history(key, "ex_post_failure", {"reason": reason, "observed_at": (observed_at or utcnow()).isoformat()},
                                actor)


def record_extended_validation(store: EvaluationStore, key: RunKey, results: dict[str, RuleResult], *,
                               actor: str, context: dict | None = None, idempotency_key: str | None = None) -> int:
    """Append extended-validation results (cohort, portfolio, stress ... run after the verdict).

    ``context`` adds fields to the revision's payload (e.g. the cohort and ruleset it was judged
    in); with an ``idempotency_key`` seen before nothing is written (see
    :meth:`EvaluationStore.append_history`)."""
    _require_evaluated(store, key)
    return store.append_history(key, "extended_validation",
                                {**(context or {}), "results": {n: r.model_dump() for n, r in results.items()},
                                 "status": max((r.status for r in results.values()),
                                               key=["pass", "warn", "fail"].index, default="pass")}, actor,
                                idempotency_key=idempotency_key)


def _require_evaluated(store: EvaluationStore, key: RunKey) -> dict:
    run = store.get_run(key)
    if run["status"] != "evaluated":
        raise StoreError(f"run {key} is '{run['status']}'", fix="history revisions apply to evaluated runs only")
    return run


def effective_summary(store: EvaluationStore, key: RunKey) -> dict[str, Any]:
    """The run's summary with its history applied (latest override; ex-post failures)."""
    run = store.get_run(key)
    summary = dict(run.get("summary") or {})
    for h in store.history(key):
        p = h["payload"] or {}
        if h["change_type"] == "override":
            for f in ("override_status", "override_reason", "override_actor", "override_timestamp", "review_due"):
                summary[f] = p.get(f)
        elif h["change_type"] == "ex_post_failure":
            summary["ex_post_failure"] = p.get("reason")
            summary["status"] = "fail"
    return summary


def latest_runs(store: EvaluationStore, world_id: str, stage: str | None = None) -> list[dict[str, Any]]:
    """Latest evaluated run per strategy of a world (optionally of one stage)."""
    latest: dict[str, dict] = {}
    for r in store.list_runs(world_id=world_id, status="evaluated"):
        if stage and r.get("stage") != stage:
            continue
        cur = latest.get(r["strategy_id"])
        if cur is None or (r["evaluated_at"], r["created_at"]) >= (cur["evaluated_at"], cur["created_at"]):
            latest[r["strategy_id"]] = r
    return [latest[k] for k in sorted(latest)]
