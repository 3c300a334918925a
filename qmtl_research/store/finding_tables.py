"""The ``findings`` table: the validators' findings log, insert-only.

A finding (``F-0001``, ``F-0002`` ... per store) is raised on one evaluated run (and, when
given, the Validation Report version it was read in). Each change of a finding (status,
owner, due date, remediation, evidence, severity) is a **new revision row**: rows are never
updated or deleted, so the table is insert-only and its history is the finding's audit trail
(what changed, who, when, why). The current state of a finding is its highest revision.

* ``(finding_id, revision)`` is unique: two changes prepared on the same revision cannot both
  be stored (the second is refused and may be submitted again);
* ``idempotency_key`` is unique: the same change submitted twice is stored once;
* severity ``high | medium | low`` and status ``open | in_progress | closed`` are CHECK
  constraints; every revision appends a ``finding_recorded`` event in the same transaction.

This module only stores and reads; the rules (what a revision may change, closing, a high
finding blocking approval) live in :mod:`qmtl_research.governance.findings`.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import (CheckConstraint, Column, Date, DateTime, Integer, String, Table, Text, UniqueConstraint,
                        func, insert, select)
from sqlalchemy.exc import IntegrityError

from qmtl_research.errors import StoreError
from qmtl_research.store.codec import to_jsonable
from qmtl_research.store.query import select_rows
from qmtl_research.store.tables import events, metadata

FINDING_EVENT = "finding_recorded"
SEVERITIES = ("high", "medium", "low")
STATUSES = ("open", "in_progress", "closed")
#: the columns a revision carries over from the one before unless the change gives them
STATE_COLUMNS = ("title", "severity", "owner", "due_date", "remediation", "status", "evidence")

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", String(16), nullable=False),        # F-0001
    Column("revision", Integer, nullable=False),             # 1 = raised; 2, 3 ... later changes
    Column("world_id", String(128), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("run_id", String(128), nullable=False),           # the run the finding was raised on
    Column("report_version", String(64)),                    # the report it was read in (optional)
    Column("title", Text, nullable=False),
    Column("severity", String(8), nullable=False),
    Column("owner", String(128), nullable=False),            # who remediates
    Column("due_date", Date, nullable=False),
    Column("remediation", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("evidence", Text),                                # link (URL or project-relative path)
    Column("actor", String(128), nullable=False),            # who recorded this revision
    Column("note", Text, nullable=False),                    # why (raised / what changed / closing reason)
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("finding_id", "revision", name="uq_finding_revision"),
    CheckConstraint("severity IN ('high', 'medium', 'low')", name="ck_finding_severity"),
    CheckConstraint("status IN ('open', 'in_progress', 'closed')", name="ck_finding_status"),
    CheckConstraint("length(trim(title)) > 0 AND length(trim(owner)) > 0 AND length(trim(remediation)) > 0 "
                    "AND length(trim(actor)) > 0 AND length(trim(note)) > 0", name="ck_finding_text"),
    CheckConstraint("status <> 'closed' OR (evidence IS NOT NULL AND length(trim(evidence)) > 0)",
                    name="ck_finding_closed_evidence"),
)


def _event_payload(values: dict[str, Any]) -> dict[str, Any]:
    keep = ("finding_id", "revision", "run_id", "report_version", "title", "severity", "owner", "due_date",
            "status", "evidence", "actor", "note")
    return to_jsonable({k: values.get(k) for k in keep})


def next_finding_id(conn) -> str:
    n = conn.execute(select(func.count(func.distinct(findings.c.finding_id)))).scalar() or 0
    return f"F-{n + 1:04d}"


def append_finding(store, row: dict[str, Any], *, finding_id: str | None, revision: int) -> tuple[dict[str, Any], bool]:
    """Insert revision ``revision`` of ``finding_id`` (None: a new finding, numbered here) and its
    ``finding_recorded`` event in one transaction.

    Returns ``(stored row, True)``, or ``(the row stored before, False)`` when
    ``row['idempotency_key']`` was recorded already (nothing written). Raises
    :class:`StoreError` when another change took that revision (or id) first."""
    try:
        with store.engine.begin() as conn:
            fid = finding_id or next_finding_id(conn)
            last = conn.execute(select(func.max(findings.c.revision)).where(findings.c.finding_id == fid)).scalar() or 0
            if last + 1 != revision:
                raise StoreError(f"finding {fid} got revision {last} while this change (revision {revision}) was "
                                 "prepared", where=store.url, fix="look at `qmtl-research findings list` and submit "
                                 "the change again")
            values = {**row, "finding_id": fid, "revision": revision}
            conn.execute(insert(findings).values(**values))
            conn.execute(insert(events).values(
                event_type=FINDING_EVENT, idempotency_key=f"{FINDING_EVENT}:{row['idempotency_key']}",
                world_id=row["world_id"], strategy_id=row["strategy_id"], run_id=row["run_id"],
                payload=_event_payload(values), created_at=row["created_at"]))
    except IntegrityError:
        before = finding_by_key(store, row["idempotency_key"])
        if before is not None:
            return before, False
        raise StoreError(f"another change of finding {finding_id or '(new)'} was recorded at the same time",
                         where=store.url, fix="look at `qmtl-research findings list` and submit it again") from None
    return finding_by_key(store, row["idempotency_key"]), True


def finding_by_key(store, idempotency_key: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(findings).where(findings.c.idempotency_key == idempotency_key)).mappings().first()
    return dict(row) if row is not None else None


def finding_revisions(store, world_id: str | None = None, strategy_id: str | None = None,
                      finding_id: str | None = None) -> list[dict[str, Any]]:
    """Every revision, ordered by finding id then revision."""
    return select_rows(store.engine, findings, order_by=("finding_id", "revision"), world_id=world_id,
                       strategy_id=strategy_id, finding_id=finding_id)
