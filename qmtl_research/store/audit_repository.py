"""AuditRepository: the audit tables of the Evaluation Store, written one command run
at a time in **one transaction**.

Unit of work
------------
::

    repo = AuditRepository.open(url)          # url: None = $QMTL_STORE_URL or data/evaluation_store.sqlite
    with repo.transaction() as tx:
        tx.add_snapshots(snapshots, "demo")
        tx.add_alerts(alerts, portfolio_id="demo", source="snapshot")
    for line in tx.outcome.lines():
        print(line)

``add_*`` only *plan* what to write; nothing touches the store while the ``with``
body runs, so an exception in it leaves nothing behind. When the body ends, the
plan is committed in one ``engine.begin()``:

1. every planned record set is compared with what the store holds under its key
   (below), **before any write**:

   * nothing stored -> it is inserted (``stored``);
   * the same content -> nothing is written (``already stored, unchanged``);
   * different content -> :class:`StoreError` naming the table, the key and what
     to do. Stored rows are never overwritten.

2. then every insert, and the alert events (``events`` table, event type
   ``audit_alert``; an event whose idempotency key is stored with the same
   payload is skipped).

Any failure (a refusal, a database error, another process writing the same key at
the same moment, which the unique indexes catch) rolls the whole run back.

Keys (see :mod:`qmtl_research.store.audit_tables`):

=========================  ===========================================================
record set                 key
=========================  ===========================================================
daily snapshot             ``(portfolio_id, date)``; dates not yet stored must come after
                           the last stored snapshot of the portfolio, and the first of
                           them must carry returns against that stored snapshot
performance report         ``(portfolio_id, period, start_date, end_date)``
attribution                ``(portfolio_id, period, start_date, end_date)``: all factor rows
Monte Carlo run            ``run_id``
risk report                ``(snapshot_date, portfolio_id)`` of ``var_daily_snapshots``;
                           compared as a whole with its Monte Carlo row and stress rows
                           (their ``run_id``/``run_date`` excepted)
alert event                its idempotency key (:func:`alert_event_key`)
=========================  ===========================================================

Numbers are compared with a relative tolerance of 1e-12 (what survives a round trip
through SQLite REAL, PostgreSQL double precision and JSON/JSONB).

Over 400 lines because (on purpose) the unit of work, the per-record-set comparisons it runs before
any write and the reads of the same tables are one contract; split, the refusal rules would drift apart.
"""
from __future__ import annotations

import datetime as dt
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd
from sqlalchemy import Connection, Table, and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from qmtl_research.errors import InputError, StoreError
from qmtl_research.store import EvaluationStore
from qmtl_research.store.audit_tables import (attributions, daily_snapshots, montecarlo_results, performance_reports,
                                              stress_test_results, var_daily_snapshots)
from qmtl_research.store.codec import to_jsonable
from qmtl_research.store.query import select_rows
from qmtl_research.store.repository import event_values
from qmtl_research.store.tables import events

REL_TOL = 1e-12
ALERT_EVENT = "audit_alert"
_NOT_COMPARED = frozenset({"id", "created_at"})


def _date(value) -> dt.date:
    return pd.Timestamp(value).date()


def _finite_or_none(x):
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _text(value: str, limit: int, column: str) -> str:
    value = str(value)
    if len(value) > limit:
        raise InputError(f"{column} {value!r} is longer than {limit} characters", where=column,
                         fix=f"use a name of at most {limit} characters (the store's column width)")
    return value


def difference(stored: Any, new: Any, path: str = "") -> str | None:
    """First difference between a stored value and a new one (``None`` when the same):
    numbers within :data:`REL_TOL`, ``None`` == NaN, dicts and lists compared deeply."""
    if _is_missing(stored) and _is_missing(new):
        return None
    if isinstance(stored, dict) and isinstance(new, dict):
        for k in sorted(set(map(str, stored)) | set(map(str, new))):
            d = difference({str(a): b for a, b in stored.items()}.get(k),
                           {str(a): b for a, b in new.items()}.get(k), f"{path}.{k}" if path else k)
            if d:
                return d
        return None
    if isinstance(stored, (list, tuple)) and isinstance(new, (list, tuple)):
        if len(stored) != len(new):
            return f"{path or 'value'}: {len(stored)} stored items, {len(new)} new"
        for i, (a, b) in enumerate(zip(stored, new)):
            d = difference(a, b, f"{path}[{i}]")
            if d:
                return d
        return None
    if _is_number(stored) and _is_number(new):
        if math.isclose(float(stored), float(new), rel_tol=REL_TOL, abs_tol=REL_TOL):
            return None
    elif isinstance(stored, (dt.date, pd.Timestamp)) and isinstance(new, (dt.date, pd.Timestamp, str)):
        if _date(stored) == _date(new):
            return None
    elif stored == new:
        return None
    return f"{path or 'value'}: stored {stored!r}, new {new!r}"


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _rows_difference(stored: list[dict], new: list[dict], order: tuple[str, ...], ignore=frozenset()) -> str | None:
    if len(stored) != len(new):
        return f"{len(stored)} stored rows, {len(new)} new"
    skey = lambda r: tuple(str(r.get(c)) for c in order)  # noqa: E731
    for s, n in zip(sorted(stored, key=skey), sorted(new, key=skey)):
        for col in n:
            if col in ignore or col in _NOT_COMPARED:
                continue
            d = difference(s.get(col), n[col], col)
            if d:
                where = ", ".join(f"{c}={n.get(c)}" for c in order)
                return f"{where + ': ' if where else ''}{d}"
    return None


# ------------------------------------------------------------------ outcome
@dataclass(frozen=True)
class RecordOutcome:
    """What a commit did with one planned record set."""

    table: str
    key: str            # the key in words, e.g. "portfolio demo, 1Y 2024-01-02..2024-12-31"
    status: str         # "stored" | "unchanged"
    rows: int


@dataclass
class SaveOutcome:
    """What one transaction wrote (``stored``) and found already stored (``unchanged``)."""

    records: list[RecordOutcome] = field(default_factory=list)
    events_emitted: int = 0
    events_seen: int = 0

    @property
    def rows_written(self) -> int:
        return sum(r.rows for r in self.records if r.status == "stored")

    @property
    def unchanged(self) -> bool:
        """True when the run wrote nothing because everything was already stored."""
        return self.rows_written == 0 and self.events_emitted == 0 and bool(self.records)

    def lines(self) -> list[str]:
        out = []
        for r in self.records:
            word = "stored" if r.status == "stored" else "already stored, unchanged"
            out.append(f"{word}: {r.table} {r.key} ({r.rows} row{'s' if r.rows != 1 else ''})")
        if self.events_emitted or self.events_seen:
            out.append(f"events {ALERT_EVENT}: {self.events_emitted} emitted, {self.events_seen} already emitted")
        return out

    def as_dict(self) -> dict:
        return {"records": [r.__dict__ for r in self.records], "rows_written": self.rows_written,
                "events_emitted": self.events_emitted, "events_seen": self.events_seen}


# -------------------------------------------------------------- record sets
@dataclass
class _RecordSet:
    """Rows written together under one key; refused when stored with other content."""

    table: Table
    key: dict[str, Any]
    rows: list[dict]
    label: str                     # what it is, for messages ("performance report of portfolio demo, ...")
    key_text: str                  # its key in words, for the outcome ("portfolio demo, 1Y 2024-01-02..")
    fix: str
    order: tuple[str, ...] = ()
    ignore: frozenset = frozenset()

    def stored(self, conn: Connection) -> list[dict]:
        cond = and_(*[self.table.c[c] == v for c, v in self.key.items()])
        return [dict(r) for r in conn.execute(select(self.table).where(cond)).mappings()]

    def check(self, conn: Connection) -> list[RecordOutcome]:
        have = self.stored(conn)
        if not have:
            self.status = "stored"
        else:
            diff = _rows_difference(have, self.rows, self.order, self.ignore)
            if diff:
                raise StoreError(f"{self.label[0].upper()}{self.label[1:]} is already stored in {self.table.name} with different content "
                                 f"({diff}); nothing was written", where=f"{self.table.name} key " + ", ".join(
                                     f"{c}={v}" for c, v in self.key.items()), fix=self.fix)
            self.status = "unchanged"
        return [RecordOutcome(self.table.name, self.key_text, self.status, len(self.rows))]

    def write(self, conn: Connection) -> None:
        if self.status == "stored" and self.rows:
            conn.execute(insert(self.table), self.rows)


@dataclass
class _SnapshotSet:
    """Daily snapshots of one portfolio: one record per date, appended in date order."""

    portfolio_id: str
    rows: list[dict]

    def check(self, conn: Connection) -> list[RecordOutcome]:
        t = daily_snapshots
        dates = [r["date"] for r in self.rows]
        stored = {r["date"]: dict(r) for r in conn.execute(select(t).where(
            and_(t.c.portfolio_id == self.portfolio_id, t.c.date.in_(dates)))).mappings()}
        fix = ("snapshots are stored once per portfolio and date: snapshot another --date, or use another "
               "--portfolio-id")
        self.new = []
        for row in self.rows:
            have = stored.get(row["date"])
            if have is None:
                self.new.append(row)
                continue
            diff = _rows_difference([have], [row], ())
            if diff:
                raise StoreError(f"the snapshot of portfolio {self.portfolio_id!r} on {row['date']} is already "
                                 f"stored with different content ({diff}); nothing was written",
                                 where=f"daily_snapshots key portfolio_id={self.portfolio_id}, date={row['date']}",
                                 fix=fix)
        if self.new:
            first = self.new[0]["date"]
            last = conn.execute(select(func.max(t.c.date)).where(t.c.portfolio_id == self.portfolio_id)).scalar()
            if last is not None and _date(last) >= first:
                raise StoreError(f"the snapshot of portfolio {self.portfolio_id!r} on {first} comes before the last "
                                 f"stored one ({_date(last)}); inserting it would leave the daily returns stored "
                                 "after it wrong; nothing was written", where="daily_snapshots",
                                 fix="snapshots are appended in date order: snapshot dates after "
                                     f"{_date(last)}, or use another --portfolio-id")
            prev = conn.execute(select(t).where(and_(t.c.portfolio_id == self.portfolio_id, t.c.date < first))
                                .order_by(t.c.date.desc()).limit(1)).mappings().first()
            if prev is not None:
                expect_daily = self.new[0]["total_value"] / prev["total_value"] - 1.0
                expect_cum = (1.0 + (prev["cum_return"] or 0.0)) * (1.0 + expect_daily) - 1.0
                first_row_daily = self.new[0]["daily_return"] or 0.0
                if difference(expect_daily, first_row_daily) or difference(expect_cum, self.new[0]["cum_return"]):
                    raise StoreError(f"the snapshot of portfolio {self.portfolio_id!r} on {first} does not carry its "
                                     f"returns against the stored snapshot of {_date(prev['date'])} (daily return "
                                     f"{first_row_daily:+.6f}, expected {expect_daily:+.6f}); nothing was written",
                                     where="daily_snapshots",
                                     fix="build the snapshots with build_snapshots(..., previous="
                                         "repo.previous_snapshot(portfolio_id, first_date))")
        out = []
        new_dates = {r["date"] for r in self.new}
        for status, rows in (("unchanged", [r for r in self.rows if r["date"] not in new_dates]),
                             ("stored", self.new)):
            if rows:
                span = str(rows[0]["date"]) if len(rows) == 1 else f"{rows[0]['date']}..{rows[-1]['date']}"
                out.append(RecordOutcome("daily_snapshots", f"portfolio {self.portfolio_id}, {span}", status,
                                         len(rows)))
        return out

    def write(self, conn: Connection) -> None:
        if self.new:
            conn.execute(insert(daily_snapshots), self.new)


@dataclass
class _RiskReportSet:
    """Monte Carlo row + VaR snapshot + stress rows of one risk report, keyed by (date, portfolio)."""

    montecarlo: _RecordSet
    var_row: dict
    stress: _RecordSet

    def check(self, conn: Connection) -> list[RecordOutcome]:
        v = var_daily_snapshots
        key = f"portfolio {self.var_row['portfolio_id']}, as of {self.var_row['snapshot_date']}"
        fix = ("a risk report is stored once per portfolio and date: choose another --date or --portfolio-id "
               "(--seed 0 draws fresh randomness, so its reruns always differ; use a fixed --seed)")
        have = conn.execute(select(v).where(and_(v.c.snapshot_date == self.var_row["snapshot_date"],
                                                 v.c.portfolio_id == self.var_row["portfolio_id"]))).mappings().first()
        n = 1 + len(self.montecarlo.rows) + len(self.stress.rows)
        if have is None:
            self.status = "stored"
            self.montecarlo.check(conn)      # a new run id; refuses a clash with another report's run
            self.stress.check(conn)
            return [RecordOutcome("montecarlo_results+var_daily_snapshots+stress_test_results",
                                  f"{key} (run {self.var_row['run_id']})", "stored", n)]
        where = f"var_daily_snapshots key snapshot_date={self.var_row['snapshot_date']}, " \
                f"portfolio_id={self.var_row['portfolio_id']}"
        run_id = have["run_id"]
        if run_id is None:
            raise StoreError(f"a risk report of {key} is already stored, by an older version that did not link its "
                             "Monte Carlo run, so it cannot be compared; nothing was written", where=where, fix=fix)
        diff = _rows_difference([dict(have)], [self.var_row], (), frozenset({"run_id"}))
        if not diff:
            mc = [dict(r) for r in conn.execute(select(montecarlo_results).where(
                montecarlo_results.c.run_id == run_id)).mappings()]
            diff = _rows_difference(mc, self.montecarlo.rows, (), frozenset({"run_id", "run_date"}))
        if not diff:
            st = [dict(r) for r in conn.execute(select(stress_test_results).where(
                stress_test_results.c.run_id == run_id)).mappings()]
            diff = _rows_difference(st, self.stress.rows, ("scenario_name",), frozenset({"run_id"}))
        if diff:
            raise StoreError(f"a risk report of {key} is already stored (run {run_id}) with different content "
                             f"({diff}); nothing was written", where=where, fix=fix)
        self.status = "unchanged"
        return [RecordOutcome("montecarlo_results+var_daily_snapshots+stress_test_results",
                              f"{key} (run {run_id})", "unchanged", n)]

    def write(self, conn: Connection) -> None:
        if self.status == "stored":
            self.montecarlo.write(conn)
            conn.execute(insert(var_daily_snapshots), [self.var_row])
            self.stress.write(conn)


@dataclass
class _EventSet:
    rows: list[dict]

    def check(self, conn: Connection) -> list[RecordOutcome]:
        keys = [r["idempotency_key"] for r in self.rows]
        seen = {r.idempotency_key: r.payload for r in conn.execute(
            select(events.c.idempotency_key, events.c.payload).where(events.c.idempotency_key.in_(keys)))}
        for r in self.rows:
            if r["idempotency_key"] in seen:
                diff = difference(seen[r["idempotency_key"]], r["payload"])
                if diff:
                    raise StoreError(f"event {r['idempotency_key']} is already stored with another payload ({diff}); "
                                     "nothing was written", where="events",
                                     fix="events are append-only; the data behind this alert changed: store it "
                                         "under another --portfolio-id")
        self.new = [r for r in self.rows if r["idempotency_key"] not in seen]
        self.seen = len(self.rows) - len(self.new)
        return []

    def write(self, conn: Connection) -> None:
        if self.new:
            conn.execute(insert(events), self.new)


# -------------------------------------------------------------- transaction
def alert_event_key(portfolio_id: str, source: str, alert: str, date, threshold: float, series_start=None) -> str:
    """Deterministic idempotency key of an alert event:
    ``audit_alert:<portfolio>:<source>:<alert>:<date>:<threshold>``, and for ``max_drawdown``
    (which depends on where the return series starts) ``:from:<series start>``."""
    key = f"{ALERT_EVENT}:{portfolio_id}:{source}:{alert}:{_date(date).isoformat()}:{threshold:g}"
    if alert == "max_drawdown" and series_start is not None:
        key += f":from:{_date(series_start).isoformat()}"
    return key


class AuditTransaction:
    """Plans the writes of one command run; committed by :meth:`AuditRepository.transaction`."""

    def __init__(self) -> None:
        self._sets: list = []
        self._events: list[dict] = []
        self.outcome: SaveOutcome | None = None

    # -- snapshots
    def add_snapshots(self, snapshots, portfolio_id: str = "main") -> None:
        """Daily snapshots (:class:`~qmtl_research.data.snapshot.DailySnapshot`, ascending dates)."""
        pid = _text(portfolio_id, 50, "portfolio_id")
        rows = [dict(portfolio_id=pid, date=_date(s.date), total_value=float(s.total_value), cash=float(s.cash),
                     positions=to_jsonable([p.__dict__ for p in s.positions]),
                     daily_return=_finite_or_none(s.daily_return), cum_return=_finite_or_none(s.cum_return))
                for s in sorted(snapshots, key=lambda s: _date(s.date))]
        if len({r["date"] for r in rows}) != len(rows):
            raise InputError("two snapshots of the same date", where=f"snapshots of {pid}", fix="one snapshot per date")
        if rows:
            self._sets.append(_SnapshotSet(pid, rows))

    # -- performance
    def add_performance(self, report, portfolio_id: str = "main", *, benchmark_name: str | None = None) -> None:
        """A :class:`~qmtl_research.risk.performance.PerformanceReport` (``report_data`` holds all of it,
        plus ``benchmark_name``)."""
        pid = _text(portfolio_id, 50, "portfolio_id")
        d = report.as_dict()
        data = to_jsonable({**d, "benchmark_name": benchmark_name})
        key = dict(portfolio_id=pid, period=_text(report.period, 20, "period"), start_date=_date(report.start_date),
                   end_date=_date(report.end_date))
        row = dict(**key, total_return=_finite_or_none(d["total_return"]), sharpe=_finite_or_none(d["sharpe"]),
                   max_drawdown=_finite_or_none(d["max_drawdown"]), win_rate=_finite_or_none(d["win_rate"]),
                   report_data=data)
        span = f"portfolio {pid}, {report.period} {key['start_date']}..{key['end_date']}"
        self._sets.append(_RecordSet(
            performance_reports, key, [row], f"the performance report of {span}", span,
            fix="a performance report is stored once per portfolio, period and dates: use another --end/--period, "
                "or another --portfolio-id for another variant (e.g. another benchmark)"))

    # -- attribution
    def add_attribution(self, result, period: str, portfolio_id: str = "main", *, start_date=None,
                        end_date=None) -> None:
        """Factor rows of an :class:`~qmtl_research.risk.attribution.AttributionResult` (or its ``table``
        with ``start_date``/``end_date``)."""
        table = getattr(result, "table", result)
        start_date = start_date or getattr(result, "start_date", None)
        end_date = end_date or getattr(result, "end_date", None)
        if start_date is None or end_date is None:
            raise InputError("an attribution is stored with its period's start and end dates", where="attribution",
                             fix="pass the AttributionResult, or start_date= and end_date=")
        pid = _text(portfolio_id, 50, "portfolio_id")
        key = dict(portfolio_id=pid, period=_text(period, 20, "period"), start_date=_date(start_date),
                   end_date=_date(end_date))
        rows = [dict(**key, factor=_text(r.factor, 20, "attribution factor"),
                     contribution=_finite_or_none(r.contribution), exposure=_finite_or_none(r.exposure))
                for r in table.itertuples()]
        if len({r["factor"] for r in rows}) != len(rows):
            raise InputError("two attribution rows with the same factor", where="attribution table")
        span = f"portfolio {pid}, {period} {key['start_date']}..{key['end_date']}"
        self._sets.append(_RecordSet(
            attributions, key, rows, f"the attribution of {span}", span, order=("factor",), fix="an attribution is stored once per portfolio, period and dates: use another "
                                   "--end/--period, or another --portfolio-id (e.g. for other factors)"))

    # -- risk
    def _montecarlo_set(self, result) -> _RecordSet:
        row = dict(run_id=_text(result.run_id, 50, "run_id"), run_date=_date(result.run_date),
                   decision_snapshot_id=result.decision_snapshot_id, config=to_jsonable(result.config),
                   input_sample_count=int(result.input_sample_count), mean_return=_finite_or_none(result.mean_return),
                   std_dev=_finite_or_none(result.std_dev), var_95=_finite_or_none(result.var_95),
                   var_99=_finite_or_none(result.var_99), cvar_95=_finite_or_none(result.cvar_95),
                   cvar_99=_finite_or_none(result.cvar_99),
                   percentiles={str(k): float(v) for k, v in result.percentiles.items()})
        return _RecordSet(montecarlo_results, {"run_id": row["run_id"]}, [row], f"Monte Carlo run {row['run_id']}",
                          f"run {row['run_id']}", fix="Monte Carlo run ids are written once; run the simulation again for a new run id")

    def add_montecarlo(self, result) -> None:
        """A :class:`~qmtl_research.risk.montecarlo.MonteCarloResult` (key: its ``run_id``)."""
        self._sets.append(self._montecarlo_set(result))

    def _stress_set(self, run_id: str, table: pd.DataFrame) -> _RecordSet:
        rows = [dict(run_id=run_id, scenario_name=_text(r.scenario, 50, "stress scenario name"),
                     portfolio_loss=_finite_or_none(r.portfolio_loss),
                     loss_amount=_finite_or_none(r.loss_amount) if "loss_amount" in table.columns else None)
                for r in table.itertuples()]
        return _RecordSet(stress_test_results, {"run_id": run_id}, rows, f"stress results of run {run_id}",
                          f"run {run_id}", order=("scenario_name",), fix="stress results are written once per run id")

    def add_stress(self, run_id: str, table: pd.DataFrame) -> None:
        """Stress results (``scenario``, ``portfolio_loss``[, ``loss_amount``]) of a run."""
        self._sets.append(self._stress_set(run_id, table))

    def add_var_snapshot(self, snapshot_date, portfolio_id: str, var_95: float, var_99: float, cvar_95: float,
                         cvar_99: float, portfolio_value: float, run_id: str | None = None) -> None:
        """One row of ``var_daily_snapshots`` (key: date, portfolio)."""
        key = dict(snapshot_date=_date(snapshot_date), portfolio_id=_text(portfolio_id, 50, "portfolio_id"))
        row = dict(**key, var_95=var_95, var_99=var_99, cvar_95=cvar_95, cvar_99=cvar_99,
                   portfolio_value=portfolio_value, var_95_amount=var_95 * portfolio_value, run_id=run_id)
        self._sets.append(_RecordSet(var_daily_snapshots, key, [row],
                                     f"the VaR snapshot of portfolio {portfolio_id} on {key['snapshot_date']}",
                                     f"portfolio {portfolio_id}, {key['snapshot_date']}", fix="a VaR snapshot is stored once per portfolio and date: use another --date"))

    def add_risk_report(self, report) -> None:
        """A :class:`~qmtl_research.risk.portfolio_report.RiskReport`: Monte Carlo, VaR snapshot (linked to the
        run) and stress results, idempotent per (as-of date, portfolio) as a whole."""
        mc = self._montecarlo_set(report.montecarlo)
        v = report.var.set_index("confidence")
        var_95, var_99 = float(v.loc[0.95, "VaR"]), float(v.loc[0.99, "VaR"])
        row = dict(snapshot_date=_date(report.as_of), portfolio_id=_text(report.portfolio_id, 50, "portfolio_id"),
                   var_95=var_95, var_99=var_99, cvar_95=float(v.loc[0.95, "CVaR"]),
                   cvar_99=float(v.loc[0.99, "CVaR"]), portfolio_value=float(report.portfolio_value),
                   var_95_amount=var_95 * float(report.portfolio_value), run_id=report.montecarlo.run_id)
        self._sets.append(_RiskReportSet(mc, row, self._stress_set(report.montecarlo.run_id, report.stress)))

    # -- alerts
    def add_alerts(self, alerts: pd.DataFrame, *, portfolio_id: str, source: str, series_start=None) -> None:
        """Alerts of :func:`qmtl_research.risk.alerts.check_alerts` as ``audit_alert`` events.

        ``source`` names the command (``"performance"``, ``"snapshot"``); ``series_start`` is the first
        date of the return series the drawdowns were measured on. Payload: portfolio_id, source, date,
        alert, value, threshold, message (and series_start for ``max_drawdown``); idempotency key:
        :func:`alert_event_key`, so a rerun emits nothing new."""
        for r in alerts.itertuples():
            payload = {"portfolio_id": portfolio_id, "source": source, "date": _date(r.date).isoformat(),
                       "alert": r.alert, "value": float(r.value), "threshold": float(r.threshold),
                       "message": r.message}
            if r.alert == "max_drawdown" and series_start is not None:
                payload["series_start"] = _date(series_start).isoformat()
            key = alert_event_key(portfolio_id, source, r.alert, r.date, float(r.threshold), series_start)
            if len(key) > 200:
                raise InputError(f"alert event key longer than 200 characters: {key}", where="events.idempotency_key",
                                 fix="use a shorter --portfolio-id")
            self._events.append(event_values(ALERT_EVENT, None, payload, idempotency_key=key))

    # -- commit
    def _commit(self, engine) -> SaveOutcome:
        outcome = SaveOutcome()
        sets = list(self._sets)
        ev = _EventSet(self._events) if self._events else None
        try:
            with engine.begin() as conn:
                for s in sets:                   # 1. every check, before any write
                    outcome.records.extend(s.check(conn))
                if ev:
                    ev.check(conn)
                for s in sets:                   # 2. the writes
                    s.write(conn)
                if ev:
                    ev.write(conn)
                    outcome.events_emitted, outcome.events_seen = len(ev.new), ev.seen
        except IntegrityError as exc:
            raise StoreError("another writer stored one of these keys at the same moment; nothing of this run was "
                             f"written ({str(exc.orig).splitlines()[0] if exc.orig else exc})",
                             where=str(engine.url.render_as_string(hide_password=True)),
                             fix="run the command again: it will report the stored rows as unchanged, or refuse "
                                 "with the differences") from None
        return outcome


class AuditRepository:
    """Reads and writes the audit tables through the Evaluation Store's engine."""

    def __init__(self, store: EvaluationStore):
        self.store = store
        self.engine = store.engine

    @classmethod
    def open(cls, url: str | None = None) -> "AuditRepository":
        return cls(EvaluationStore.open(url))

    @contextmanager
    def transaction(self) -> Iterator[AuditTransaction]:
        """Unit of work of one command run (see the module docstring); ``tx.outcome`` after the block."""
        tx = AuditTransaction()
        yield tx
        tx.outcome = tx._commit(self.engine)

    def _one(self, plan) -> SaveOutcome:
        with self.transaction() as tx:
            plan(tx)
        return tx.outcome

    # ----------------------------------------------------------- snapshots
    def save_snapshots(self, snapshots, portfolio_id: str = "main") -> SaveOutcome:
        return self._one(lambda tx: tx.add_snapshots(snapshots, portfolio_id))

    def snapshots(self, portfolio_id: str = "main") -> pd.DataFrame:
        return pd.DataFrame(select_rows(self.engine, daily_snapshots, order_by="date", portfolio_id=portfolio_id))

    def previous_snapshot(self, portfolio_id: str, before) -> "DailySnapshot | None":  # noqa: F821
        """The last stored snapshot of ``portfolio_id`` dated strictly before ``before`` (or None)."""
        from qmtl_research.data.snapshot import DailySnapshot, PositionSnapshot

        t = daily_snapshots
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(and_(t.c.portfolio_id == portfolio_id, t.c.date < _date(before)))
                               .order_by(t.c.date.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        return DailySnapshot(_date(row["date"]).isoformat(), float(row["total_value"]), float(row["cash"] or 0.0),
                             [PositionSnapshot(**p) for p in (row["positions"] or [])],
                             float(row["daily_return"] or 0.0), float(row["cum_return"] or 0.0))

    def snapshot_returns(self, portfolio_id: str, before=None) -> pd.Series:
        """Stored daily returns of ``portfolio_id`` (DatetimeIndex), dated before ``before`` if given."""
        rows = select_rows(self.engine, daily_snapshots, columns=("date", "daily_return"), order_by="date",
                           below={"date": None if before is None else _date(before)}, portfolio_id=portfolio_id)
        return pd.Series([float(r["daily_return"] or 0.0) for r in rows],
                         index=pd.DatetimeIndex([pd.Timestamp(r["date"]) for r in rows], name="date"), dtype=float)

    # --------------------------------------------------------- performance
    def save_performance(self, report, portfolio_id: str = "main", *, benchmark_name: str | None = None
                         ) -> SaveOutcome:
        return self._one(lambda tx: tx.add_performance(report, portfolio_id, benchmark_name=benchmark_name))

    def performance_reports(self, portfolio_id: str = "main") -> list[dict[str, Any]]:
        return select_rows(self.engine, performance_reports, order_by="id", portfolio_id=portfolio_id)

    def save_attribution(self, result, period: str, portfolio_id: str = "main", *, start_date=None,
                         end_date=None) -> SaveOutcome:
        return self._one(lambda tx: tx.add_attribution(result, period, portfolio_id, start_date=start_date,
                                                       end_date=end_date))

    def attributions(self, portfolio_id: str = "main") -> pd.DataFrame:
        return pd.DataFrame(select_rows(self.engine, attributions, order_by="id", portfolio_id=portfolio_id))

    # --------------------------------------------------------------- risk
    def save_montecarlo(self, result) -> SaveOutcome:
        return self._one(lambda tx: tx.add_montecarlo(result))

    def montecarlo(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(montecarlo_results).where(montecarlo_results.c.run_id == run_id)).mappings().first()
        if row is None:
            raise StoreError(f"no Monte Carlo run {run_id}", where="montecarlo_results")
        return dict(row)

    def montecarlo_runs(self) -> pd.DataFrame:
        """Every stored Monte Carlo run (run_id, run_date, var_95 ...), oldest first."""
        return pd.DataFrame(select_rows(self.engine, montecarlo_results, order_by=("created_at", "run_id")))

    def save_var_snapshot(self, snapshot_date, portfolio_id: str, var_95: float, var_99: float, cvar_95: float,
                          cvar_99: float, portfolio_value: float, run_id: str | None = None) -> SaveOutcome:
        return self._one(lambda tx: tx.add_var_snapshot(snapshot_date, portfolio_id, var_95, var_99, cvar_95,
                                                        cvar_99, portfolio_value, run_id))

    def var_snapshots(self, portfolio_id: str = "main") -> pd.DataFrame:
        return pd.DataFrame(select_rows(self.engine, var_daily_snapshots, order_by="snapshot_date",
                                        portfolio_id=portfolio_id))

    def save_stress(self, run_id: str, table: pd.DataFrame) -> SaveOutcome:
        return self._one(lambda tx: tx.add_stress(run_id, table))

    def stress(self, run_id: str) -> pd.DataFrame:
        return pd.DataFrame(select_rows(self.engine, stress_test_results, order_by="scenario_name", run_id=run_id))

    def save_risk_report(self, report) -> SaveOutcome:
        return self._one(lambda tx: tx.add_risk_report(report))

    def alert_events(self, portfolio_id: str | None = None) -> pd.DataFrame:
        """Stored ``audit_alert`` events as a frame (date, alert, value, threshold, message, portfolio_id,
        source, series_start, idempotency_key), oldest first."""
        cols = ["date", "alert", "value", "threshold", "message", "portfolio_id", "source", "series_start",
                "idempotency_key"]
        rows = [{**ev["payload"], "idempotency_key": ev["idempotency_key"]} for ev in self.store.events(ALERT_EVENT)
                if portfolio_id is None or ev["payload"].get("portfolio_id") == portfolio_id]
        return pd.DataFrame(rows, columns=cols)
