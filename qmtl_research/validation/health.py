"""Validation health per world and stage (QMTL's validation_health + the MRM sketch's
policy-stability figures).

* ``metric_coverage_ratio``: mean over the evaluated runs of (non-null v1 core paths / 12);
* ``rules_executed_ratio``: rules that produced a verdict / rules configured (a rule that
  raised counts as configured, not executed), summed over the runs;
* ``validation_error_count``: rule errors over the runs;
* ``validation_policy_age_days``: days from the latest ``validation_profile_changed`` event of
  the world and stage (the moment the ruleset now in force was first recorded) to ``now``;
  None when no such event exists;
* ``ruleset_change_count_last_90d``: ``validation_profile_changed`` events of the world and
  stage in the 90 days before ``now`` that replaced an earlier ruleset (first sightings are
  not changes). ``distinct_ruleset_hashes_90d`` (hashes carried by runs evaluated in that
  window) is shown beside it as a cross-check.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import pandas as pd

from qmtl_research.store import EvaluationStore
from qmtl_research.store.repository import utcnow
from qmtl_research.validation.engine import RunOutcome
from qmtl_research.validation.metrics import metric_coverage_ratio

COLUMNS = ["world_id", "stage", "n_runs", "metric_coverage_ratio", "rules_executed_ratio", "validation_error_count",
           "validation_policy_age_days", "ruleset_change_count_last_90d", "distinct_ruleset_hashes_90d"]


def _aware(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts


def policy_stability(store: EvaluationStore, world_id: str, stage: str,
                     now: dt.datetime | None = None) -> tuple[float | None, int]:
    """(validation_policy_age_days, ruleset_change_count_last_90d) of a world and stage from its
    ``validation_profile_changed`` events (see the module docstring)."""
    now_ts = _aware(now or utcnow())
    evs = [e for e in store.events("validation_profile_changed", world_id=world_id)
           if (e["payload"] or {}).get("stage") == stage]
    age = (now_ts - _aware(max(e["created_at"] for e in evs))).total_seconds() / 86400 if evs else None
    since = now_ts - pd.Timedelta(days=90)
    changes = sum(1 for e in evs if _aware(e["created_at"]) >= since and (e["payload"] or {}).get("previous_ruleset_hash"))
    return age, changes


def health_from_outcomes(outcomes: Iterable[RunOutcome], world_id: str, metrics: Iterable[dict] | None = None) -> pd.DataFrame:
    """Health of outcomes not (yet) stored: coverage, executed ratio and errors per stage."""
    outcomes = list(outcomes)
    metrics = list(metrics) if metrics is not None else [o.run.metrics for o in outcomes]
    rows = []
    for stage in sorted({o.stage for o in outcomes}):
        sel = [(o, m) for o, m in zip(outcomes, metrics) if o.stage == stage]
        conf = sum(o.rules_configured for o, _ in sel)
        rows.append({"world_id": world_id, "stage": stage, "n_runs": len(sel),
                     "metric_coverage_ratio": sum(metric_coverage_ratio(m) for _, m in sel) / len(sel),
                     "rules_executed_ratio": sum(o.rules_executed for o, _ in sel) / conf if conf else 1.0,
                     "validation_error_count": sum(len(o.errors) for o, _ in sel),
                     "validation_policy_age_days": None, "ruleset_change_count_last_90d": None,
                     "distinct_ruleset_hashes_90d": len({o.ruleset_hash for o, _ in sel})})
    return pd.DataFrame(rows, columns=COLUMNS)


def validation_health(store: EvaluationStore, world_id: str | None = None, now: dt.datetime | None = None) -> pd.DataFrame:
    """One row per (world, stage) over the evaluated runs in the store."""
    now_ts = _aware(now or utcnow())
    since = now_ts - pd.Timedelta(days=90)
    runs = store.list_runs(world_id=world_id, status="evaluated")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["world_id"], r.get("stage") or "backtest"), []).append(r)
    rows = []
    for (w, stage), rs in sorted(groups.items()):
        conf = sum((r.get("validation") or {}).get("rules_configured", 0) for r in rs)
        execd = sum((r.get("validation") or {}).get("rules_executed", 0) for r in rs)
        age, changes = policy_stability(store, w, stage, now_ts)
        hashes = {r.get("ruleset_hash") for r in rs if r.get("evaluated_at") and _aware(r["evaluated_at"]) >= since}
        rows.append({"world_id": w, "stage": stage, "n_runs": len(rs),
                     "metric_coverage_ratio": sum(metric_coverage_ratio(r.get("metrics") or {}) for r in rs) / len(rs),
                     "rules_executed_ratio": execd / conf if conf else 1.0,
                     "validation_error_count": sum((r.get("validation") or {}).get("validation_error_count", 0) for r in rs),
                     "validation_policy_age_days": age, "ruleset_change_count_last_90d": changes,
                     "distinct_ruleset_hashes_90d": len(hashes - {None})})
    return pd.DataFrame(rows, columns=COLUMNS)
