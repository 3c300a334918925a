"""Live monitoring: backtest vs live (or paper) periods of one return series.

Windows are calendar days counted back from the last live date (30/60/90).
Sharpe follows the project convention (annualised, risk-free 0); drawdown and
ES(99 %) are positive loss fractions (ES per period, historical).
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from qmtl_research.validation.metrics import WINDOWS, live_block, split_periods  # noqa: F401 (the live block is a metric block)

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
    from qmtl_research.governance.runs import latest_runs

    return {r["strategy_id"]: (r.get("metrics") or {})["live"] for r in latest_runs(store, world_id, stage="live")
            if isinstance((r.get("metrics") or {}).get("live"), dict)}
