"""The event stream's own tables and the ordering of the ``events`` log.

* ``consumer_offsets``: one row per consumer name, the id of the last event it has fully
  handled. Offsets are bookkeeping, not records: they are updated in place (not guarded).
* ``state_view``: one row per (world, strategy), the projection a consumer keeps from the
  stream (lifecycle stage, current verdict, open findings, overrides due, last report, live
  decay ...). Rebuilt from the store on every event that touches the pair, so a replayed
  event rewrites the same row.

Offsets are only sound if an event with a smaller id can never become visible after one with
a larger id. SQLite has one writer at a time, so ids follow commit order. On PostgreSQL a
sequence value is taken when a row is formed, and transactions commit in any order: a consumer
that has read id 7 could later see id 6 appear. :func:`install` therefore adds a ``BEFORE
INSERT`` trigger on ``events`` that takes a transaction-scoped advisory lock and only then
draws the id from the sequence: event-writing transactions are serialised from their first
event to their commit, so ids are visible in increasing order (gaps, from rolled-back or
refused inserts, are harmless). An ``AFTER INSERT`` trigger sends ``NOTIFY qmtl_events`` (sent
at commit) that the consumer waits on with ``LISTEN``.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, DateTime, Float, Integer, String, Table, Text, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qmtl_research.store.query import select_rows
from qmtl_research.store.tables import Json, metadata

#: the PostgreSQL channel the events log notifies on (payload: the event id)
CHANNEL = "qmtl_events"
#: advisory-lock key that orders event ids (the schema lock uses 7205531)
ORDER_LOCK = 7205532

consumer_offsets = Table(
    "consumer_offsets", metadata,
    Column("consumer", String(128), primary_key=True),
    Column("last_event_id", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

state_view = Table(
    "state_view", metadata,
    Column("world_id", String(128), primary_key=True),
    Column("strategy_id", String(128), primary_key=True),
    Column("risk_tier", String(16)),
    Column("owner", String(200)),
    Column("lifecycle_stage", String(32)),
    Column("run_id", String(128)),                 # the run the verdict comes from
    Column("run_stage", String(16)),
    Column("current_verdict", String(16)),
    Column("recommended_stage", String(32)),
    Column("last_validation", DateTime(timezone=True)),
    Column("next_review_due", DateTime(timezone=True)),
    Column("open_findings", Integer, nullable=False),
    Column("overrides_due", Integer, nullable=False),
    Column("last_report", String(64)),
    Column("live_decay", Float),                   # live / backtest Sharpe of the latest live run
    Column("deep_validation", String(16)),         # status of the latest deep (extended) validation
    Column("detail", Json),
    Column("note", Text),
    Column("last_event_id", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_PG_ORDER = f"""
CREATE OR REPLACE FUNCTION qmtl_events_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({ORDER_LOCK});
  NEW.id := nextval(pg_get_serial_sequence(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'id'));
  RETURN NEW;
END $$"""
_PG_NOTIFY = f"""
CREATE OR REPLACE FUNCTION qmtl_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', NEW.id::text);
  RETURN NULL;
END $$"""
_PG_TRIGGERS = {"qmtl_events_order": "BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION qmtl_events_order()",
                "qmtl_events_notify": "AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION qmtl_events_notify()"}


def install(conn: Connection) -> None:
    """PostgreSQL: the ordering and notify triggers on ``events`` (see the module docstring);
    other dialects: nothing. Called by :func:`qmtl_research.store.db.ensure_schema`."""
    if conn.dialect.name != "postgresql":
        return
    have = {r[0] for r in conn.execute(text(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relname = 'events' AND n.nspname = current_schema()"))}
    if all(name in have for name in _PG_TRIGGERS):
        return
    conn.execute(text(_PG_ORDER))
    conn.execute(text(_PG_NOTIFY))
    for name, body in _PG_TRIGGERS.items():
        if name not in have:
            conn.execute(text(f"CREATE TRIGGER {name} {body}"))


def _upsert(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table).values(**values)
    conn.execute(ins.on_conflict_do_update(index_elements=keys,
                                           set_={k: v for k, v in values.items() if k not in keys}))


def get_offset(conn: Connection, consumer: str) -> int:
    """The last event id ``consumer`` has handled (0 before its first event)."""
    v = conn.execute(select(consumer_offsets.c.last_event_id).where(consumer_offsets.c.consumer == consumer)).scalar()
    return int(v or 0)


def set_offset(conn: Connection, consumer: str, event_id: int, now) -> None:
    """Move ``consumer``'s offset to ``event_id`` (never backwards)."""
    if conn.execute(select(consumer_offsets.c.consumer).where(consumer_offsets.c.consumer == consumer)).first() is None:
        conn.execute(consumer_offsets.insert().values(consumer=consumer, last_event_id=event_id, updated_at=now))
    else:
        conn.execute(update(consumer_offsets).where(consumer_offsets.c.consumer == consumer,
                                                    consumer_offsets.c.last_event_id < event_id)
                     .values(last_event_id=event_id, updated_at=now))


def put_state(conn: Connection, row: dict[str, Any]) -> None:
    """Write the state-view row of ``row['world_id']`` / ``row['strategy_id']`` (replaces it)."""
    _upsert(conn, state_view, row, ["world_id", "strategy_id"])


def read_state(engine, world_id: str | None = None) -> list[dict[str, Any]]:
    """State-view rows (ordered by world, strategy)."""
    return select_rows(engine, state_view, order_by=("world_id", "strategy_id"), world_id=world_id)


def read_offsets(engine) -> dict[str, int]:
    """{consumer: last handled event id}."""
    with engine.connect() as conn:
        return {r.consumer: int(r.last_event_id) for r in conn.execute(select(consumer_offsets))}
