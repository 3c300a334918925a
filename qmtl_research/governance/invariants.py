"""QMTL's governance invariants for a world, checked against the store.

1. ``latest_live_run_passes``: the latest evaluated live run of each strategy passes when
   re-judged under the world's *current* policy (a run judged under an older ruleset is
   re-evaluated, not trusted);
2. ``fail_closed``: a high-tier client-critical world fails closed: ``validation.on_error``
   is ``fail`` and ``validation.on_missing_metric`` is ``fail`` (a missing metric or a rule
   error can never let a run through);
3. ``overrides_complete_and_current``: every approved (latest) override has actor, reason and
   timestamp and is within its review window.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from qmtl_research.config import WorldConfig
from qmtl_research.store import EvaluationStore
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.governance.overrides import overrides_frame
from qmtl_research.validation.policy import Policy, policy_of_world
from qmtl_research.governance.runs import latest_runs, record_of


@dataclass
class Invariant:
    name: str
    status: str     # pass | fail | not_applicable
    detail: str


def check_invariants(store: EvaluationStore, world: WorldConfig, policy: Policy | None = None,
                     now: dt.datetime | None = None) -> list[Invariant]:
    policy = policy or policy_of_world(world)[0]
    out = []
    live = latest_runs(store, world.world_id, stage="live")
    if not live:
        out.append(Invariant("latest_live_run_passes", "not_applicable", "no evaluated live run in this world"))
    else:
        recs = [record_of(r) for r in live]
        outs = evaluate_batch(recs, policy, "live", policy_version=world.policy_version)
        bad = [f"{o.run.strategy_id}/{o.run.run_id}: {o.status} ({', '.join(o.failing()) or 'warnings'})"
               for o in outs if o.status != "pass"]
        out.append(Invariant("latest_live_run_passes", "fail" if bad else "pass",
                             "; ".join(bad) if bad else f"{len(outs)} latest live run(s) pass under the current policy"))
    if world.risk_tier == "high" and world.client_critical:
        v = policy.validation
        ok = v.on_error == "fail" and v.on_missing_metric == "fail"
        out.append(Invariant("fail_closed", "pass" if ok else "fail",
                             f"on_error={v.on_error}, on_missing_metric={v.on_missing_metric}"
                             + ("" if ok else " (a high-tier client-critical world needs both = fail)")))
    else:
        out.append(Invariant("fail_closed", "not_applicable",
                             f"risk_tier={world.risk_tier}, client_critical={world.client_critical}"))
    ov = overrides_frame(store, world.world_id, now=now)
    approved = ov[ov["status"] == "approved"] if not ov.empty else ov
    if approved.empty:
        out.append(Invariant("overrides_complete_and_current", "not_applicable", "no approved override"))
    else:
        bad = approved[~approved["complete"] | approved["overdue"]]
        out.append(Invariant("overrides_complete_and_current", "fail" if len(bad) else "pass",
                             "; ".join(f"{r.strategy_id}/{r.run_id} rev {r.revision}: "
                                       + ("incomplete" if not r.complete else f"review overdue since {r.review_due}")
                                       for r in bad.itertuples()) if len(bad) else
                             f"{len(approved)} approved override(s) complete and within review"))
    return out


def invariants_frame(items: list[Invariant]) -> pd.DataFrame:
    return pd.DataFrame([i.__dict__ for i in items], columns=["name", "status", "detail"])
