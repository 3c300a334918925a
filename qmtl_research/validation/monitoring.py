"""Live monitoring: backtest vs live (or paper) periods of one return series.

Windows are calendar days counted back from the last live date (30/60/90).
Sharpe follows the project convention (annualised, risk-free 0); drawdown and
ES(99 %) are positive loss fractions (ES per period, historical).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import pandas as pd

from qmtl_research.validation.metrics import max_drawdown, sharpe_ratio, var_es

WINDOWS = (30, 60, 90)


def split_periods(returns: pd.Series, live_start) -> tuple[pd.Series, pd.Series]:
    """(backtest, live): dates before ``live_start`` and from it on."""
    s = pd.Series(returns).dropna().sort_index()
    start = pd.Timestamp(live_start)
    return s[s.index < start], s[s.index >= start]


def live_block(returns: pd.Series, live_start, periods_per_year: float = 252,
               windows: Iterable[int] = WINDOWS) -> dict[str, float]:
    """The ``live`` metric block: sharpe/max_drawdown/es_p01 over each window, the full live
    period's figures, and ``live_vs_backtest_sharpe_ratio`` (live Sharpe / backtest Sharpe; NaN
    when the backtest Sharpe is not positive) and ``max_drawdown_ratio`` (live / backtest)."""
    bt, live = split_periods(returns, live_start)
    out: dict[str, float] = {"backtest_sharpe": sharpe_ratio(bt, periods_per_year), "backtest_max_drawdown": max_drawdown(bt),
                             "live_sharpe": sharpe_ratio(live, periods_per_year), "live_max_drawdown": max_drawdown(live),
                             "live_days": float((live.index[-1] - live.index[0]).days + 1) if len(live) else 0.0}
    for w in windows:
        win = live[live.index > live.index[-1] - pd.Timedelta(days=w)] if len(live) else live
        out[f"sharpe_{w}d"] = sharpe_ratio(win, periods_per_year)
        out[f"max_drawdown_{w}d"] = max_drawdown(win)
        out[f"es_p01_{w}d"] = var_es(win, 0.01)[1]
    b = out["backtest_sharpe"]
    out["live_vs_backtest_sharpe_ratio"] = out["live_sharpe"] / b if b and b > 0 and not math.isnan(b) else math.nan
    bd = out["backtest_max_drawdown"]
    out["max_drawdown_ratio"] = out["live_max_drawdown"] / bd if bd and bd > 0 else math.nan
    return out


def demotion_candidates(blocks: Mapping[str, Mapping[str, float]], *, min_sharpe_ratio: float = 0.5,
                        window_days: int = 90, min_window_sharpe: float = 0.0,
                        max_drawdown_ratio: float = 1.5) -> pd.DataFrame:
    """Strategies whose live block breaches any limit: live/backtest Sharpe ratio below
    ``min_sharpe_ratio``, Sharpe over ``window_days`` below ``min_window_sharpe``, or live
    drawdown above ``max_drawdown_ratio`` x backtest drawdown. Limits are inclusive."""
    rows = []
    for sid, b in sorted(blocks.items()):
        reasons = []
        r = b.get("live_vs_backtest_sharpe_ratio")
        if r is not None and not math.isnan(r) and r < min_sharpe_ratio:
            reasons.append(f"live/backtest Sharpe {r:.2f} < {min_sharpe_ratio}")
        w = b.get(f"sharpe_{window_days}d")
        if w is not None and not math.isnan(w) and w < min_window_sharpe:
            reasons.append(f"{window_days}d Sharpe {w:.2f} < {min_window_sharpe}")
        d = b.get("max_drawdown_ratio")
        if d is not None and not math.isnan(d) and d > max_drawdown_ratio:
            reasons.append(f"live/backtest drawdown {d:.2f} > {max_drawdown_ratio}")
        rows.append({"strategy_id": sid, "demotion_candidate": bool(reasons), "reasons": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=["strategy_id", "demotion_candidate", "reasons"])


def live_blocks_from_store(store, world_id: str) -> dict[str, dict]:
    """``metrics.live`` of the latest evaluated live run of each strategy of a world."""
    from qmtl_research.validation.runs import latest_runs

    return {r["strategy_id"]: (r.get("metrics") or {})["live"] for r in latest_runs(store, world_id, stage="live")
            if isinstance((r.get("metrics") or {}).get("live"), dict)}
