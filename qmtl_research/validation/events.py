"""Validation events: evaluation_run_created / evaluation_run_updated come from the store
(run creation and history revisions); this module adds validation_profile_changed and
the query / export helpers. Events are append-only; an idempotency key makes a repeated
emission a no-op.

``validation_profile_changed`` is emitted by :func:`sync_policy` whenever the ruleset hash
of a world's (stage, profile) differs from the last one recorded for that world and stage.
World-level events carry the world id and no strategy or run.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pandas as pd

from qmtl_research.config import WorldConfig
from qmtl_research.store import EvaluationStore
from qmtl_research.store.approval_tables import APPROVAL_EVENT
from qmtl_research.validation.policy import STAGES, Policy, policy_of_world, ruleset_hash

EVENT_TYPES = ("evaluation_run_created", "evaluation_run_updated", "validation_profile_changed",
               APPROVAL_EVENT)  # approval decisions: qmtl_research.validation.approvals


def sync_policy(store: EvaluationStore, world: WorldConfig, policy: Policy | None = None,
                actor: str | None = None) -> list[str]:
    """Record ``validation_profile_changed`` for every stage whose ruleset hash changed since the
    last event of this world (the first sighting counts as a change). Returns the stages changed."""
    policy = policy or policy_of_world(world)[0]
    seen: dict[str, str] = {}
    for ev in store.events("validation_profile_changed", world_id=world.world_id):
        seen[ev["payload"].get("stage")] = ev["payload"].get("ruleset_hash")
    changed = []
    for stage in STAGES:
        profile = policy.profile_for_stage(stage)
        h = ruleset_hash(policy, profile)
        if seen.get(stage) == h:
            continue
        payload = {"stage": stage, "profile": profile, "ruleset_hash": h, "previous_ruleset_hash": seen.get(stage),
                   "policy_version": world.policy_version, "actor": actor}
        if store.emit_event("validation_profile_changed", None, payload, world_id=world.world_id,
                            idempotency_key=f"validation_profile_changed:{world.world_id}:{stage}:{seen.get(stage)}->{h}"):
            changed.append(stage)
    return changed


def events_frame(store: EvaluationStore, event_type: str | None = None, world_id: str | None = None,
                 strategy_id: str | None = None, since: dt.datetime | None = None) -> pd.DataFrame:
    rows = store.events(event_type=event_type, world_id=world_id, strategy_id=strategy_id, since=since)
    cols = ["id", "event_type", "idempotency_key", "world_id", "strategy_id", "run_id", "payload", "created_at"]
    return pd.DataFrame(rows, columns=cols)


def export_jsonl(store: EvaluationStore, path: str | Path | None = None, **filters) -> Iterator[str] | int:
    """JSON lines of the events (one object per line, keys sorted). With ``path``, writes the
    file and returns the number of lines."""
    lines = store.export_events_jsonl(**filters)
    if path is None:
        return lines
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
            n += 1
    return n
