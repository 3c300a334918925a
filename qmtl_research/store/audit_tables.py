"""Audit-layer tables on the shared store ``metadata`` (mirroring the seed's SQL).

The seed's PostgreSQL schemas ``audit.*`` / ``analytics.*`` become table name
prefixes-free tables here (SQLite has no schemas); DECIMAL columns are Float
(values are fractions and currency amounts; exactness to the cent is not needed
for research). Differences from the seed, on purpose:

* ``daily_snapshots`` and ``performance_reports``/``attributions`` carry a
  ``portfolio_id`` (default ``'main'``), because one store holds several
  portfolios; the seed's ``UNIQUE(date)`` becomes ``UNIQUE(portfolio_id, date)``
  (identical to the seed for a single portfolio).
* ``montecarlo_results.decision_snapshot_id`` has no foreign key (there is no
  ``decision_snapshots`` table in this project).
* Every table has a unique key, so that a rerun can be recognised (see
  :mod:`qmtl_research.store.audit_repository`): ``performance_reports`` are unique per
  ``(portfolio_id, period, start_date, end_date)``; ``attributions`` carry the
  period's ``start_date``/``end_date`` (schema version 2) and are unique per
  ``(portfolio_id, period, start_date, end_date, factor)``.
* ``var_daily_snapshots.run_id`` (schema version 2) names the Monte Carlo run
  (``montecarlo_results``) and stress results (``stress_test_results``) written
  with the same risk report, so a rerun of the report can be compared as a whole.

:func:`upgrade` brings audit tables of an older store (schema version 1) to this
definition: it adds the new columns and unique indexes (``ALTER TABLE ... ADD
COLUMN``, ``CREATE UNIQUE INDEX IF NOT EXISTS``); it never drops or rewrites rows.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Connection, Date, DateTime, Float, Index, Integer, PrimaryKeyConstraint,
                        String, Table, UniqueConstraint, func, inspect, text)
from sqlalchemy.exc import IntegrityError

from qmtl_research.errors import StoreError

from qmtl_research.store.tables import Json, metadata

daily_snapshots = Table(
    "daily_snapshots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("portfolio_id", String(50), nullable=False, server_default="main"),
    Column("date", Date, nullable=False),
    Column("total_value", Float),
    Column("cash", Float),
    Column("positions", Json),
    Column("daily_return", Float),
    Column("cum_return", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    UniqueConstraint("portfolio_id", "date", name="uq_daily_snapshots_date"),
)
Index("idx_snapshots_date", daily_snapshots.c.date)

performance_reports = Table(
    "performance_reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("portfolio_id", String(50), nullable=False, server_default="main"),
    Column("period", String(20)),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("total_return", Float),
    Column("sharpe", Float),
    Column("max_drawdown", Float),
    Column("win_rate", Float),
    Column("report_data", Json),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
Index("uq_performance_reports_key", performance_reports.c.portfolio_id, performance_reports.c.period,
      performance_reports.c.start_date, performance_reports.c.end_date, unique=True)

attributions = Table(
    "attributions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("portfolio_id", String(50), nullable=False, server_default="main"),
    Column("period", String(20)),
    Column("factor", String(20)),
    Column("contribution", Float),
    Column("exposure", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Column("start_date", Date),          # schema version 2
    Column("end_date", Date),            # schema version 2
)
Index("uq_attributions_key", attributions.c.portfolio_id, attributions.c.period, attributions.c.start_date,
      attributions.c.end_date, attributions.c.factor, unique=True)

montecarlo_results = Table(
    "montecarlo_results", metadata,
    Column("run_id", String(50), primary_key=True),
    Column("run_date", Date, nullable=False),
    Column("decision_snapshot_id", BigInteger),
    Column("config", Json, nullable=False),
    Column("input_sample_count", Integer, nullable=False),
    Column("mean_return", Float),
    Column("std_dev", Float),
    Column("var_95", Float),
    Column("var_99", Float),
    Column("cvar_95", Float),
    Column("cvar_99", Float),
    Column("percentiles", Json),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)

var_daily_snapshots = Table(
    "var_daily_snapshots", metadata,
    Column("snapshot_date", Date, nullable=False),
    Column("portfolio_id", String(50), nullable=False, server_default="main"),
    Column("var_95", Float),
    Column("var_99", Float),
    Column("cvar_95", Float),
    Column("cvar_99", Float),
    Column("portfolio_value", Float),
    Column("var_95_amount", Float),
    Column("run_id", String(50)),        # schema version 2: the Monte Carlo run of the same report
    PrimaryKeyConstraint("snapshot_date", "portfolio_id", name="pk_var_daily_snapshots"),
)

stress_test_results = Table(
    "stress_test_results", metadata,
    Column("run_id", String(50), nullable=False),
    Column("scenario_name", String(50), nullable=False),
    Column("portfolio_loss", Float),
    Column("loss_amount", Float),
    PrimaryKeyConstraint("run_id", "scenario_name", name="pk_stress_test_results"),
)


#: columns added after schema version 1: table -> [(column, SQL type)]
_ADDED_COLUMNS = {
    "attributions": [("start_date", "DATE"), ("end_date", "DATE")],
    "var_daily_snapshots": [("run_id", "VARCHAR(50)")],
}
#: unique indexes added after schema version 1
_ADDED_INDEXES = [
    ("uq_performance_reports_key", "performance_reports", ("portfolio_id", "period", "start_date", "end_date")),
    ("uq_attributions_key", "attributions", ("portfolio_id", "period", "start_date", "end_date", "factor")),
]


def upgrade(conn: Connection, from_version: int) -> None:
    """Bring the audit tables of a store at ``from_version`` (< current) up to date.

    Idempotent: only missing columns and indexes are added. Rows already stored
    keep their values (the new columns are NULL for them). Raises
    :class:`StoreError` when existing rows break a new unique key."""
    if from_version >= 2:
        return
    insp = inspect(conn)
    for table, cols in _ADDED_COLUMNS.items():
        have = {c["name"] for c in insp.get_columns(table)}
        for name, sql_type in cols:
            if name not in have:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))
    for name, table, cols in _ADDED_INDEXES:
        try:
            conn.execute(text(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(cols)})"))
        except IntegrityError:
            raise StoreError(f"rows of {table} repeat the key ({', '.join(cols)}) that schema version 2 makes unique",
                             where=f"{table} in {conn.engine.url.render_as_string(hide_password=True)}",
                             fix=f"remove the repeated rows of {table} (they were written before reruns were "
                                 "checked), then open the store again") from None
