"""The ``approvals`` table: append-only approval decisions on evaluated runs.

Why a table of its own and not a ``run_history`` change type: a decision is not a revision
of a run's verdict (``run_history`` revisions change what a run *says*: an override, an
ex-post failure, extended validation, applied by ``governance.runs.effective_summary``).
A decision moves a *strategy's* lifecycle stage in a world, and the stage is derived from
the ordered decisions of that (world, strategy), across runs. So each decision carries its
place in that order (``seq``, unique per world and strategy: two decisions taken on the same
stage at the same time cannot both be recorded), the stage before and after, the RACI role
and letter it was signed under, and checks that the database itself enforces:

* decisions are ``approve | reject | conditional``; ``reason`` is non-empty; a conditional
  decision has conditions and a review date (CHECK constraints);
* rows are never updated or deleted (triggers on SQLite and PostgreSQL abort an UPDATE or
  DELETE: :data:`qmtl_research.store.guards.PROTECTED`);
* ``idempotency_key`` is unique: the same decision submitted twice is stored once;
* every decision appends an ``approval_recorded`` event in the same transaction.

Business rules (who may sign, which transitions are allowed, which runs may be approved)
live in :mod:`qmtl_research.governance.approvals`; this module only stores and reads.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import (CheckConstraint, Column, Date, DateTime, Integer, String, Table, Text, UniqueConstraint,
                        and_, func, insert, select)
from sqlalchemy.exc import IntegrityError

from qmtl_research.errors import StoreError
from qmtl_research.store.codec import to_jsonable
from qmtl_research.store.query import select_rows
from qmtl_research.store.tables import Json, events, metadata

APPROVAL_EVENT = "approval_recorded"

approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("world_id", String(128), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),                 # 1, 2, ... per (world_id, strategy_id)
    Column("run_id", String(128), nullable=False),
    Column("decision", String(16), nullable=False),         # approve | reject | conditional
    Column("actor", String(128), nullable=False),
    Column("role", String(64), nullable=False),             # RACI role
    Column("role_letter", String(8), nullable=False),       # its letter for the activity (A, R, A/R)
    Column("activity", String(128), nullable=False),        # RACI activity signed under
    Column("reason", Text, nullable=False),
    Column("conditions", Text),
    Column("review_by", Date),
    Column("stage_before", String(32), nullable=False),
    Column("stage_after", String(32), nullable=False),
    Column("run_stage", String(16)),                        # QMTL stage the run was judged for
    Column("verdict", String(8)),                           # the run's verdict (history applied) when decided
    Column("override_revision", Integer),                   # approved override that allowed approving a fail
    Column("report_version", String(64)),
    Column("governance_hash", String(80), nullable=False),  # RACI + lifecycle files in force
    Column("content_hash", String(80), nullable=False),     # the decision's content (duplicate detection)
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload", Json, nullable=False),                # extra context (signers at the time ...)
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("world_id", "strategy_id", "seq", name="uq_approval_seq"),
    CheckConstraint("decision IN ('approve', 'reject', 'conditional')", name="ck_approval_decision"),
    CheckConstraint("length(trim(reason)) > 0", name="ck_approval_reason"),
    CheckConstraint("length(trim(actor)) > 0", name="ck_approval_actor"),
    CheckConstraint("decision <> 'conditional' OR (conditions IS NOT NULL AND length(trim(conditions)) > 0 "
                    "AND review_by IS NOT NULL)", name="ck_approval_conditional"),
)

# rows are never updated or deleted: the `approvals` entry of qmtl_research.store.guards.PROTECTED


def _of(world_id: str, strategy_id: str):
    return and_(approvals.c.world_id == world_id, approvals.c.strategy_id == strategy_id)


def append_approval(store, row: dict[str, Any], *, seq: int) -> tuple[dict[str, Any], bool]:
    """Append decision number ``seq`` of ``row['world_id'], row['strategy_id']`` and its
    ``approval_recorded`` event in one transaction.

    Returns ``(stored row, True)``, or ``(the row stored before, False)`` when
    ``row['idempotency_key']`` was recorded already (nothing is written). Raises
    :class:`StoreError` when another decision took number ``seq`` first (the caller
    decided on a stage that is no longer current)."""
    w, s = row["world_id"], row["strategy_id"]
    values = {**row, "seq": seq, "payload": to_jsonable(row.get("payload") or {})}
    ev_payload = {k: values[k] for k in ("seq", "decision", "actor", "role", "activity", "stage_before",
                                         "stage_after", "report_version", "conditions", "review_by")}
    try:
        with store.engine.begin() as conn:
            last = conn.execute(select(func.max(approvals.c.seq)).where(_of(w, s))).scalar() or 0
            if last + 1 != seq:
                raise StoreError(f"decision #{last} was recorded for {w}/{s} while this one (#{seq}) was prepared",
                                 where=store.url, fix="look at `qmtl-research approvals list` and decide again")
            conn.execute(insert(approvals).values(**values))
            conn.execute(insert(events).values(
                event_type=APPROVAL_EVENT, idempotency_key=f"{APPROVAL_EVENT}:{row['idempotency_key']}",
                world_id=w, strategy_id=s, run_id=row["run_id"], payload=to_jsonable(ev_payload),
                created_at=row["created_at"]))
    except IntegrityError:
        before = approval_by_key(store, row["idempotency_key"])
        if before is not None:
            return before, False
        raise StoreError(f"another decision for {w}/{s} was recorded at the same time (#{seq})", where=store.url,
                         fix="look at `qmtl-research approvals list` and decide again") from None
    return approval_by_key(store, row["idempotency_key"]), True


def approval_by_key(store, idempotency_key: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(approvals).where(approvals.c.idempotency_key == idempotency_key)).mappings().first()
    return dict(row) if row is not None else None


def list_approvals(store, world_id: str | None = None, strategy_id: str | None = None) -> list[dict[str, Any]]:
    """Decisions, oldest first within each (world, strategy)."""
    return select_rows(store.engine, approvals, order_by=("world_id", "strategy_id", "seq"), world_id=world_id,
                       strategy_id=strategy_id)
