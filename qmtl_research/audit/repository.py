"""AuditRepository: writes and reads the audit tables through the Evaluation
Store's engine. Unique keys are as the seed's (see
:mod:`qmtl_research.store.audit_tables`); writing a duplicate raises
:class:`StoreError` and writes nothing (each call is one transaction)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from qmtl_research.errors import StoreError
from qmtl_research.store import EvaluationStore
from qmtl_research.store.audit_tables import (attributions, daily_snapshots, montecarlo_results, performance_reports,
                                              stress_test_results, var_daily_snapshots)
from qmtl_research.store.codec import to_jsonable


def _date(value) -> dt.date:
    return pd.Timestamp(value).date()


class AuditRepository:
    def __init__(self, store: EvaluationStore):
        self.store = store
        self.engine = store.engine

    @classmethod
    def open(cls, url: str | None = None) -> "AuditRepository":
        return cls(EvaluationStore.open(url))

    def _insert(self, table, rows: list[dict], what: str) -> int:
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(table), rows)
        except IntegrityError:
            raise StoreError(f"{what} already stored (unique key of {table.name})",
                             where=table.name, fix="each key is written once; use a new run id or date") from None
        return len(rows)

    # ----------------------------------------------------------- snapshots
    def save_snapshots(self, snapshots, portfolio_id: str = "main") -> int:
        rows = [dict(portfolio_id=portfolio_id, date=_date(s.date), total_value=s.total_value, cash=s.cash,
                     positions=to_jsonable([p.__dict__ for p in s.positions]), daily_return=s.daily_return,
                     cum_return=s.cum_return) for s in snapshots]
        return self._insert(daily_snapshots, rows, f"a daily snapshot of portfolio {portfolio_id!r} for one of the dates")

    def snapshots(self, portfolio_id: str = "main") -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(daily_snapshots).where(daily_snapshots.c.portfolio_id == portfolio_id)
                                .order_by(daily_snapshots.c.date)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])

    # --------------------------------------------------------- performance
    def save_performance(self, report, portfolio_id: str = "main") -> int:
        d = report.as_dict()
        return self._insert(performance_reports, [dict(
            portfolio_id=portfolio_id, period=report.period, start_date=_date(report.start_date),
            end_date=_date(report.end_date), total_return=report.total_return, sharpe=d["sharpe"],
            max_drawdown=report.max_drawdown, win_rate=d["win_rate"], report_data=to_jsonable(d))], "performance report")

    def performance_reports(self, portfolio_id: str = "main") -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(performance_reports).where(
                performance_reports.c.portfolio_id == portfolio_id).order_by(performance_reports.c.id)).mappings()]

    def save_attribution(self, table: pd.DataFrame, period: str, portfolio_id: str = "main") -> int:
        rows = [dict(portfolio_id=portfolio_id, period=period, factor=str(r.factor)[:20],
                     contribution=float(r.contribution),
                     exposure=None if pd.isna(r.exposure) else float(r.exposure)) for r in table.itertuples()]
        return self._insert(attributions, rows, "attribution")

    def attributions(self, portfolio_id: str = "main") -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attributions).where(attributions.c.portfolio_id == portfolio_id)
                                .order_by(attributions.c.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])

    # --------------------------------------------------------------- risk
    def save_montecarlo(self, result) -> int:
        return self._insert(montecarlo_results, [dict(
            run_id=result.run_id, run_date=_date(result.run_date), decision_snapshot_id=result.decision_snapshot_id,
            config=to_jsonable(result.config), input_sample_count=result.input_sample_count,
            mean_return=result.mean_return, std_dev=result.std_dev, var_95=result.var_95, var_99=result.var_99,
            cvar_95=result.cvar_95, cvar_99=result.cvar_99,
            percentiles={str(k): float(v) for k, v in result.percentiles.items()})], f"Monte Carlo run {result.run_id}")

    def montecarlo(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(montecarlo_results).where(montecarlo_results.c.run_id == run_id)).mappings().first()
        if row is None:
            raise StoreError(f"no Monte Carlo run {run_id}", where="montecarlo_results")
        return dict(row)

    def save_var_snapshot(self, snapshot_date, portfolio_id: str, var_95: float, var_99: float, cvar_95: float,
                          cvar_99: float, portfolio_value: float) -> int:
        return self._insert(var_daily_snapshots, [dict(
            snapshot_date=_date(snapshot_date), portfolio_id=portfolio_id, var_95=var_95, var_99=var_99,
            cvar_95=cvar_95, cvar_99=cvar_99, portfolio_value=portfolio_value,
            var_95_amount=var_95 * portfolio_value)], f"VaR snapshot of {portfolio_id} on {_date(snapshot_date)}")

    def var_snapshots(self, portfolio_id: str = "main") -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(var_daily_snapshots).where(var_daily_snapshots.c.portfolio_id == portfolio_id)
                                .order_by(var_daily_snapshots.c.snapshot_date)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])

    def save_stress(self, run_id: str, table: pd.DataFrame) -> int:
        rows = [dict(run_id=run_id, scenario_name=str(r.scenario)[:50], portfolio_loss=float(r.portfolio_loss),
                     loss_amount=float(getattr(r, "loss_amount")) if "loss_amount" in table.columns else None)
                for r in table.itertuples()]
        return self._insert(stress_test_results, rows, f"stress results of run {run_id}")

    def stress(self, run_id: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(stress_test_results).where(stress_test_results.c.run_id == run_id)
                                .order_by(stress_test_results.c.scenario_name)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])
