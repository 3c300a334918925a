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
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Date, DateTime, Float, Index, Integer, PrimaryKeyConstraint, String,
                        Table, UniqueConstraint, func)

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

attributions = Table(
    "attributions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("portfolio_id", String(50), nullable=False, server_default="main"),
    Column("period", String(20)),
    Column("factor", String(20)),
    Column("contribution", Float),
    Column("exposure", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)

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
