"""Core tables of the Evaluation Store.

* ``evaluation_runs``: one row per (world_id, strategy_id, run_id); status goes
  created -> running -> evaluated | failed; an evaluated row is frozen.
* ``run_history``: append-only revisions of a run (overrides, ex-post failures,
  extended validation). Never updated or deleted.
* ``run_results``: named result payloads (tables, scalars) recorded by the
  notebooks for a run; write-once per (run, section, name).
* ``events``: append-only event log with unique idempotency keys.
* ``reports``: rendered Validation Reports with version and file hashes.
"""
from __future__ import annotations

from sqlalchemy import (JSON, Column, DateTime, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")


def _run_key_columns():
    return [Column("world_id", String(128), nullable=False),
            Column("strategy_id", String(128), nullable=False),
            Column("run_id", String(128), nullable=False)]


schema_info = Table("schema_info", metadata, Column("version", Integer, nullable=False))

evaluation_runs = Table(
    "evaluation_runs", metadata,
    Column("world_id", String(128), primary_key=True),
    Column("strategy_id", String(128), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),          # created|running|evaluated|failed
    Column("stage", String(16)),
    Column("risk_tier", String(16)),
    Column("model_card_version", String(64)),
    Column("policy_version", String(64)),
    Column("ruleset_hash", String(80)),
    Column("data_fingerprint", String(80)),
    Column("params", Json),
    Column("metrics", Json),
    Column("validation", Json),
    Column("summary", Json),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("evaluated_at", DateTime(timezone=True)),
)

run_history = Table(
    "run_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_run_key_columns(),
    Column("revision", Integer, nullable=False),
    Column("change_type", String(32), nullable=False),  # override|ex_post_failure|extended_validation|rejudgement
    Column("actor", String(128)),
    Column("payload", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("world_id", "strategy_id", "run_id", "revision", name="uq_history_revision"),
)

run_results = Table(
    "run_results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_run_key_columns(),
    Column("section", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),   # frame|value
    Column("payload", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("world_id", "strategy_id", "run_id", "section", "name", name="uq_result_name"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_type", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("world_id", String(128)),
    Column("strategy_id", String(128)),
    Column("run_id", String(128)),
    Column("payload", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

reports = Table(
    "reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("strategy_id", String(128), nullable=False),
    Column("world_id", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("run_id", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("files", Json, nullable=False),      # {relative path: sha256}
    Column("manifest", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("strategy_id", "world_id", "version", name="uq_report_version"),
)
