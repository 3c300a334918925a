"""Data for the world summary (notebooks/world.ipynb): latest run per strategy, verdicts, health."""
from __future__ import annotations

import pandas as pd

from qmtl_research.store import EvaluationStore

RUN_COLUMNS = ["strategy_id", "run_id", "status", "verdict", "recommended_stage", "stage", "policy_version",
               "model_card_version", "evaluated_at"]


def latest_runs(world: str, store_url: str | None = None) -> pd.DataFrame:
    """The latest run (by creation time) of every strategy in ``world``."""
    runs = EvaluationStore.open(store_url).list_runs(world_id=world)
    latest: dict[str, dict] = {}
    for r in runs:  # list_runs is ordered by created_at
        latest[r["strategy_id"]] = r
    rows = [{"strategy_id": s, "run_id": r["run_id"], "status": r["status"],
             "verdict": (r.get("summary") or {}).get("status"),
             "recommended_stage": (r.get("summary") or {}).get("recommended_stage"),
             "stage": r.get("stage"), "policy_version": r.get("policy_version"),
             "model_card_version": r.get("model_card_version"),
             "evaluated_at": str(r["evaluated_at"])[:19] if r.get("evaluated_at") else None}
            for s, r in sorted(latest.items())]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def verdict_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Number of strategies per verdict (pass / warn / fail / not evaluated)."""
    verdicts = runs["verdict"].fillna("not evaluated") if not runs.empty else pd.Series(dtype=str)
    counts = verdicts.value_counts()
    order = ["pass", "warn", "fail", "not evaluated"]
    return pd.DataFrame({"verdict": order, "strategies": [int(counts.get(v, 0)) for v in order]})


def world_health(world: str, store_url: str | None = None) -> pd.DataFrame:
    """Validation health of the world per stage (see qmtl_research.validation.health)."""
    from qmtl_research.validation.health import validation_health

    return validation_health(EvaluationStore.open(store_url), world).round(4)
