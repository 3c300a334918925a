"""Overrides: a person accepts (or rejects) a verdict, with a review date.

An approved override needs an actor, a reason and a timestamp. Every override (approved,
rejected, revoked) is signed in a RACI role that may sign the activity ``Override approval``
(``A``/``R`` in ``params/governance/raci.yaml``), by a person who is neither the model's owner
nor its developer (model card; :mod:`qmtl_research.governance.signoff`). Review window:
30 days for live runs or worlds that are high-tier **and** client-critical,
otherwise 90 days. An override is stored as a run-history revision
(``change_type = override``); the run itself never changes.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from qmtl_research.config import ModelCard, WorldConfig
from qmtl_research.errors import InputError, StoreError
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import utcnow
from qmtl_research.governance.raci import Governance, load_governance
from qmtl_research.governance.signoff import OVERRIDE_ACTIVITY, check_independence, check_role

SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["approved", "rejected", "revoked"]
    actor: str | None = None
    reason: str | None = None
    timestamp: dt.datetime | None = None

    @field_validator("actor", "reason")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if isinstance(v, str) and v.strip() else None

    @model_validator(mode="after")
    def _complete(self) -> "Override":
        if self.actor is None:
            raise ValueError("an override needs an actor (who decides)")
        if self.status == "approved":
            missing = [f for f in ("reason", "timestamp") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"an approved override needs {' and '.join(missing)}")
        return self


def review_window_days(world: WorldConfig, stage: str | None) -> int:
    """30 days for live runs or high-tier client-critical worlds, else 90."""
    if stage == "live" or (world.risk_tier == "high" and world.client_critical):
        return SHORT_WINDOW_DAYS
    return LONG_WINDOW_DAYS


def make_override(status: str, actor: str | None, reason: str | None,
                  timestamp: dt.datetime | None = None) -> Override:
    try:
        return Override(status=status, actor=actor, reason=reason, timestamp=timestamp)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError(f"invalid override: {msgs}", where="--status/--actor/--reason",
                         fix="give --actor and --reason (approved overrides are timestamped now)") from None


def record_override(store: EvaluationStore, key: RunKey, world: WorldConfig, *, status: str, actor: str | None,
                    reason: str | None, role: str | None, timestamp: dt.datetime | None = None,
                    card: ModelCard | None = None, governance: Governance | None = None) -> int:
    """Validate and append an override to an evaluated run; returns the history revision.

    ``role``: the RACI role signed under (must be A or R for ``Override approval``); the actor
    must not be the model's owner or developer (``card``, default: the strategy's model card).
    Nothing is stored when the override is incomplete, the role or the person may not sign
    (:class:`~qmtl_research.governance.signoff.SignOffRefused`) or the run is not evaluated."""
    ov = make_override(status, actor, reason, timestamp or (utcnow() if status == "approved" else None))
    gov = governance or load_governance()
    what = f"record an override ({ov.status}) of run {key}"
    canonical, letter = check_role(gov, OVERRIDE_ACTIVITY, role, what)
    independence = check_independence(gov, OVERRIDE_ACTIVITY, ov.actor, key.strategy_id, what, card=card)
    run = store.get_run(key)
    if run["status"] != "evaluated":
        raise StoreError(f"run {key} is '{run['status']}'; only evaluated runs can be overridden",
                         fix="let the validation step evaluate the run first")
    ts = ov.timestamp or utcnow()
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    # the same override submitted twice is recorded once (idempotent): one with the same timestamp,
    # or a resubmission (a new timestamp) of the override in force: same status, actor, reason, role
    overrides = [h for h in store.history(key) if h["change_type"] == "override"]
    for h in overrides:
        p = h["payload"] or {}
        if (p.get("override_status"), p.get("override_actor"), p.get("override_reason"),
                p.get("override_timestamp")) == (ov.status, ov.actor, ov.reason, ts.isoformat()):
            return h["revision"]
    if overrides:
        p = overrides[-1]["payload"] or {}
        if (p.get("override_status"), p.get("override_actor"), p.get("override_reason"), p.get("override_role")) == \
                (ov.status, ov.actor, ov.reason, canonical):
            return overrides[-1]["revision"]
    window = review_window_days(world, run.get("stage"))
    payload = {"override_status": ov.status, "override_actor": ov.actor, "override_reason": ov.reason,
               "override_role": canonical, "override_role_letter": letter, "activity": OVERRIDE_ACTIVITY,
               "independence": independence, "governance_hash": gov.fingerprint,
               "override_timestamp": ts.isoformat(), "review_window_days": window,
               "review_due": (ts + dt.timedelta(days=window)).isoformat(),
               "verdict_status": (run.get("summary") or {}).get("status")}
    return store.append_history(key, "override", payload, ov.actor,
                                idempotency_key=f"override:{key}:{ov.status}:{ts.isoformat()}")


def overrides_frame(store: EvaluationStore, world_id: str | None = None, strategy_id: str | None = None,
                    now: dt.datetime | None = None) -> pd.DataFrame:
    """Every override revision with its review due date and whether it is overdue at ``now``."""
    now = now or utcnow()
    cols = ["world_id", "strategy_id", "run_id", "revision", "status", "actor", "role", "reason", "timestamp",
            "review_window_days", "review_due", "overdue", "complete"]
    rows = []
    for run in store.list_runs(world_id=world_id, strategy_id=strategy_id):
        key = RunKey(run["world_id"], run["strategy_id"], run["run_id"])
        revs = [h for h in store.history(key) if h["change_type"] == "override"]
        for h in revs:
            latest = h is revs[-1]  # a later override (e.g. revoked) supersedes an earlier one
            p = h["payload"] or {}
            due = pd.Timestamp(p["review_due"]) if p.get("review_due") else None
            complete = all(p.get(f) for f in ("override_actor", "override_reason", "override_timestamp"))
            rows.append({"world_id": key.world_id, "strategy_id": key.strategy_id, "run_id": key.run_id,
                         "revision": h["revision"], "status": p.get("override_status"), "actor": p.get("override_actor"),
                         "role": p.get("override_role"),
                         "reason": p.get("override_reason"), "timestamp": p.get("override_timestamp"),
                         "review_window_days": p.get("review_window_days"), "review_due": p.get("review_due"),
                         "overdue": bool(latest and p.get("override_status") == "approved" and due is not None and pd.Timestamp(now) > due),
                         "complete": complete})
    return pd.DataFrame(rows, columns=cols)


def overdue_reviews(store: EvaluationStore, world_id: str | None = None, now: dt.datetime | None = None) -> pd.DataFrame:
    f = overrides_frame(store, world_id, now=now)
    return f[f["overdue"]].reset_index(drop=True)
