"""Validation events: evaluation_run_created / evaluation_run_updated come from the store
(run creation; the stored verdict, ``change_type: evaluated``; history revisions: override,
ex_post_failure, extended_validation); this module adds validation_profile_changed and the
query / export helpers. Events are append-only; an idempotency key makes a repeated emission a
no-op. The store keeps our snake_case ``event_type``; exports add QMTL's names
(``qmtl_event_type``: EvaluationRunCreated, EvaluationRunUpdated, ValidationProfileChanged),
and filters accept either spelling.

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
from qmtl_research.errors import InputError
from qmtl_research.store import EvaluationStore
from qmtl_research.store.approval_tables import APPROVAL_EVENT
from qmtl_research.store.finding_tables import FINDING_EVENT
from qmtl_research.store.repository import QMTL_EVENT_NAMES
from qmtl_research.validation.policy import STAGES, Policy, policy_of_world, ruleset_hash

EVENT_TYPES = ("evaluation_run_created", "evaluation_run_updated", "validation_profile_changed",
               APPROVAL_EVENT,  # approval decisions: qmtl_research.governance.approvals
               FINDING_EVENT)   # findings log revisions: qmtl_research.governance.findings


def event_type_of(name: str | None) -> str | None:
    """Our event type for ``name``, given in our spelling or QMTL's (``EvaluationRunUpdated``)."""
    if name is None:
        return None
    if name in EVENT_TYPES:
        return name
    by_qmtl = {v: k for k, v in QMTL_EVENT_NAMES.items()}
    if name in by_qmtl:
        return by_qmtl[name]
    raise InputError(f"unknown event type '{name}'", where="--type",
                     fix=f"use one of {', '.join(EVENT_TYPES)} (or QMTL's {', '.join(QMTL_EVENT_NAMES.values())})")


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
    """Events as a table (oldest first), with QMTL's name of each (``qmtl_event_type``)."""
    rows = store.events(event_type=event_type_of(event_type), world_id=world_id, strategy_id=strategy_id, since=since)
    for r in rows:
        r["qmtl_event_type"] = QMTL_EVENT_NAMES.get(r["event_type"])
    cols = ["id", "event_type", "qmtl_event_type", "idempotency_key", "world_id", "strategy_id", "run_id", "payload",
            "created_at"]
    return pd.DataFrame(rows, columns=cols)


def export_jsonl(store: EvaluationStore, path: str | Path | None = None, **filters) -> Iterator[str] | int:
    """JSON lines of the events (one object per line, keys sorted, ``qmtl_event_type`` added).
    With ``path``, writes the file and returns the number of lines."""
    if filters.get("event_type") is not None:
        filters["event_type"] = event_type_of(filters["event_type"])
    lines = store.export_events_jsonl(**filters)
    if path is None:
        return lines
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
            n += 1
    return n
