"""Live runs from the pipeline (MRM sketch 5.1): a strategy's live period judged against its backtest.

:func:`record_live_run` takes the strategy's daily returns (its live period starts at
``live.start`` of the strategy file), computes the ``live`` metric block (30/60/90-day Sharpe,
max drawdown and ES(99 %), the full live period, live/backtest Sharpe ratio and drawdown ratio:
:func:`qmtl_research.validation.metrics.live_block`), the override frequency of the strategy in
the world and the demotion-candidate decision
(:func:`qmtl_research.governance.monitoring.demotion_candidates`), and stores a ``live`` run
judged under the world's policy at stage ``live``. The run's params name the backtest run it is
judged against (the latest evaluated backtest run of the strategy in the world).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from qmtl_research.config import StrategyConfig, WorldConfig
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.identifiers import inside
from qmtl_research.paths import data_dir
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import new_run_id, utcnow
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.metrics import live_block
from qmtl_research.governance.monitoring import demotion_candidates
from qmtl_research.validation.policy import policy_of_world
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.governance.runs import latest_runs, store_outcome

#: days over which overrides are counted for the override frequency
OVERRIDE_WINDOW_DAYS = 90


def live_returns(strategy: StrategyConfig, returns_file: str | None = None) -> tuple[pd.Series, str]:
    """(daily returns, where they come from): ``returns_file`` (a returns table with one column),
    else the strategy's ``live.returns_path`` (under ``data/``), else its portfolio's returns."""
    from qmtl_research.risk.io import read_returns

    path = returns_file
    if path is None and strategy.live is not None and strategy.live.returns_path:
        path = str(inside(data_dir() / strategy.live.returns_path, data_dir(), "live.returns_path"))
    if path is not None:
        frame = read_returns(path)
        if frame.shape[1] != 1:
            raise InputError(f"the live returns file has {frame.shape[1]} return columns", where=str(path),
                             fix="give one column of daily returns (fractions) beside the date")
        return frame.iloc[:, 0].rename(strategy.strategy_id), f"file {path}"
    if strategy.portfolio is None:
        raise InputError(f"strategy {strategy.strategy_id} has no returns to monitor", where="--returns",
                         fix="give --returns FILE or live.returns_path in the strategy file")
    from qmtl_research.data.portfolio import load_portfolio

    data = load_portfolio(strategy)
    return data.portfolio_returns.rename(strategy.strategy_id), data.label()


def override_frequency(store: EvaluationStore, world_id: str, strategy_id: str,
                       now: dt.datetime | None = None) -> dict[str, float]:
    """Overrides of the strategy in the world: in the last :data:`OVERRIDE_WINDOW_DAYS` days,
    in the window before it, and per 30 days over the last window."""
    from qmtl_research.governance.overrides import overrides_frame

    now = pd.Timestamp(now or utcnow())
    f = overrides_frame(store, world_id, strategy_id, now=now.to_pydatetime())
    ts = pd.to_datetime(f["timestamp"], utc=True) if len(f) else pd.Series([], dtype="datetime64[ns, UTC]")
    w = pd.Timedelta(days=OVERRIDE_WINDOW_DAYS)
    last = int(((ts > now - w) & (ts <= now)).sum())
    before = int(((ts > now - 2 * w) & (ts <= now - w)).sum())
    return {"override_count_90d": float(last), "override_count_prev_90d": float(before),
            "override_frequency_per_30d": last / (OVERRIDE_WINDOW_DAYS / 30)}


def check_live_period(strategy: StrategyConfig, returns: pd.Series, source: str,
                      live_start: dt.date | None = None) -> tuple[dt.date, pd.Series]:
    """(live start, sorted returns without NaN); refuses a strategy without a live period and
    returns that do not cover dates both before and from the live start.

    Raises
    ------
    ConfigError
        The strategy declares no ``live:`` period and no ``live_start`` is given.
    InputError
        The returns do not span the backtest and the live period.
    """
    start = live_start or (strategy.live.start if strategy.live else None)
    if start is None:
        raise ConfigError(f"strategy {strategy.strategy_id} declares no live period", where="strategy file",
                          fix="add live: {start: YYYY-MM-DD} to the strategy file")
    s = pd.Series(returns).dropna().sort_index()
    if not (s.index < pd.Timestamp(start)).any() or not (s.index >= pd.Timestamp(start)).any():
        raise InputError(f"the returns ({source}) must cover dates before and from the live start {start}",
                         where=source, fix="give returns that span the backtest and the live period")
    return start, s


def record_live_run(store: EvaluationStore, strategy: StrategyConfig, world: WorldConfig, returns: pd.Series, *,
                    source: str, live_start: dt.date | None = None, run_id: str | None = None,
                    backtest_run_id: str | None = None) -> RunKey:
    """Store the live run of ``strategy`` in ``world`` (see the module docstring), judged against
    ``backtest_run_id`` (an evaluated backtest run; default: the strategy's latest)."""
    start, s = check_live_period(strategy, returns, source, live_start)
    backtests = [r for r in latest_runs(store, world.world_id, stage="backtest") if r["strategy_id"] == strategy.strategy_id]
    if backtest_run_id is not None:
        backtests = [r for r in store.list_runs(world.world_id, strategy.strategy_id, status="evaluated")
                     if r["run_id"] == backtest_run_id and r["stage"] == "backtest"]
    if not backtests:
        raise InputError(f"no evaluated backtest run {backtest_run_id or ''} of {strategy.strategy_id} in world "
                         f"{world.world_id}", where=store.url, fix=f"make report STRATEGY={strategy.strategy_id} first")
    bt = backtests[0]
    block = live_block(s, start)
    block.update(override_frequency(store, world.world_id, strategy.strategy_id))
    demo = demotion_candidates({strategy.strategy_id: block}).iloc[0]
    metrics: dict[str, Any] = {k: v for k, v in (bt.get("metrics") or {}).items() if k != "live"}
    metrics["live"] = block
    rid = run_id or new_run_id(strategy.strategy_id)
    policy = policy_of_world(world)[0]
    outcome = evaluate_batch([RunRecord(strategy.strategy_id, rid, metrics, world.world_id, "live")], policy, "live",
                             policy_version=world.policy_version)[0]
    params = {"backtest_run": bt["run_id"], "live_start": str(start), "returns_source": source,
              "live_end": str(s.index[-1].date()), "demotion_candidate": bool(demo["demotion_candidate"]),
              "demotion_reasons": demo["reasons"]}
    return store_outcome(store, outcome, world_id=world.world_id, risk_tier=world.risk_tier,
                         model_card_version=bt.get("model_card_version"), params=params)


def live_run_of(store: EvaluationStore, backtest: RunKey) -> dict | None:
    """The latest evaluated live run judged against the backtest run ``backtest``, or None."""
    runs = [r for r in store.list_runs(backtest.world_id, backtest.strategy_id, status="evaluated")
            if r["stage"] == "live" and (r.get("params") or {}).get("backtest_run") == backtest.run_id]
    return runs[-1] if runs else None


def live_summary(store: EvaluationStore, key: RunKey) -> pd.DataFrame:
    """The live run's block as a table: window, Sharpe, max drawdown, ES(99 %)."""
    block = (store.get_run(key).get("metrics") or {}).get("live") or {}
    rows = [{"window": f"{w}d", "sharpe": block.get(f"sharpe_{w}d"), "max_drawdown": block.get(f"max_drawdown_{w}d"),
             "es_p01": block.get(f"es_p01_{w}d")} for w in (30, 60, 90)]
    rows.append({"window": "live", "sharpe": block.get("live_sharpe"), "max_drawdown": block.get("live_max_drawdown"),
                 "es_p01": math.nan})
    rows.append({"window": "backtest", "sharpe": block.get("backtest_sharpe"),
                 "max_drawdown": block.get("backtest_max_drawdown"), "es_p01": math.nan})
    return pd.DataFrame(rows)
