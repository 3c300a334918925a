"""Section 4's "Live monitoring" part (MRM sketch 5.1): the live run recorded by the report run of a
strategy that declares ``live:``, judged against this report's backtest run.

Shown only when the run has a live run (:attr:`ReportData.live`,
:func:`qmtl_research.governance.live.live_run_of`); the regulatory mapping cites it as the
``live_run`` evidence (:data:`qmtl_research.reporting.outline.EVIDENCE`). Every number is the live
run's ``live`` metric block, read from the store; the figure re-reads the same daily returns
(:func:`qmtl_research.governance.live.live_returns`).
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd

from qmtl_research.reporting.report_data import ReportData
from qmtl_research.reporting.sections import _kv, figure, literal, md, table

#: rolling window (trading days) of the figure's Sharpe ratio
ROLLING_DAYS = 63


def live_table(block: dict) -> pd.DataFrame:
    """The 30/60/90-day windows, the whole live period and the backtest: Sharpe, maximum drawdown
    (a positive fraction), ES(99 %) and the Sharpe as a multiple of the backtest's.

    Parameters
    ----------
    block : dict
        The live run's ``live`` metric block (:func:`qmtl_research.validation.metrics.live_block`).
    """
    rows = [(f"last {w} days", block.get(f"sharpe_{w}d"), block.get(f"max_drawdown_{w}d"), block.get(f"es_p01_{w}d"))
            for w in (30, 60, 90)]
    rows.append(("whole live period", block.get("live_sharpe"), block.get("live_max_drawdown"), math.nan))
    rows.append(("backtest", block.get("backtest_sharpe"), block.get("backtest_max_drawdown"), math.nan))
    frame = pd.DataFrame(rows, columns=["window", "Sharpe", "max drawdown", "ES 99 %"])
    b = block.get("backtest_sharpe")
    frame["Sharpe / backtest"] = frame["Sharpe"] / b if b and b > 0 else math.nan
    return frame


def decision_words(params: dict) -> str:
    """The demotion decision of a live run in words, with the limits it was judged against."""
    from qmtl_research.governance.monitoring import demotion_candidates

    lim = {k: p.default for k, p in inspect.signature(demotion_candidates).parameters.items()
           if p.default is not inspect.Parameter.empty}
    limits = (f"live/backtest Sharpe at least {lim['min_sharpe_ratio']}, {lim['window_days']}-day Sharpe at least "
              f"{lim['min_window_sharpe']}, live drawdown at most {lim['max_drawdown_ratio']} x the backtest's")
    if params.get("demotion_candidate"):
        return (f"**Demotion candidate**: the live period breaches {literal(params.get('demotion_reasons'))} "
                f"(limits: {limits}). The strategy should be reviewed for demotion.")
    return f"**Not a demotion candidate**: the live period is within every limit ({limits})."


def plot_rolling_sharpe(returns: pd.Series, live_start, backtest_sharpe: float, window: int = ROLLING_DAYS,
                        periods_per_year: float = 252, figsize=(8, 3.2)):
    """Rolling annualised Sharpe (``window`` days) of the daily returns from a year before the live
    start, the backtest's Sharpe as a horizontal line and the live start as a vertical line."""
    import matplotlib.pyplot as plt

    s = pd.Series(returns).dropna().sort_index()
    roll = s.rolling(window)
    sharpe = roll.mean() / roll.std(ddof=1) * np.sqrt(periods_per_year)
    start = pd.Timestamp(live_start)
    sharpe = sharpe[sharpe.index >= start - pd.Timedelta(days=365)]
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(sharpe.index, sharpe.to_numpy(), lw=1.0, color="tab:blue", label=f"rolling {window}-day Sharpe")
    ax.axhline(backtest_sharpe, color="tab:red", ls="--", lw=1.0, label=f"backtest Sharpe {backtest_sharpe:.2f}")
    ax.axvline(start, color="0.3", ls=":", lw=1.0, label="live start")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_ylabel("annualised Sharpe")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def live_monitoring(rep: ReportData) -> None:
    """Print the live-monitoring part: the run it is, the 30/60/90-day table against the backtest,
    the ratios and override frequency, the demotion decision in words and the rolling-Sharpe figure."""
    run = rep.live
    p, block = run["params"], run["metrics"]["live"]
    verdict = str((run.get("summary") or {}).get("status", run["status"])).upper()
    md(f"The live period {p['live_start']} to {p['live_end']} ({block['live_days']:.0f} calendar days; returns: "
       f"{literal(p['returns_source'])}) is recorded as live run `{run['run_id']}`, judged against this report's "
       f"backtest run `{p['backtest_run']}` under the world's policy at stage live: **{verdict}**.")
    table(live_table(block), "live period against the backtest: annualised Sharpe, maximum drawdown and ES(99 %) "
                             "(losses as positive fractions) over the last 30, 60 and 90 calendar days of the live "
                             "period", index=False)
    _kv([("live / backtest Sharpe ratio", block.get("live_vs_backtest_sharpe_ratio")),
         ("live / backtest maximum drawdown", block.get("max_drawdown_ratio")),
         ("overrides in the last 90 days", int(block.get("override_count_90d", 0))),
         ("overrides in the 90 days before", int(block.get("override_count_prev_90d", 0))),
         ("overrides per 30 days", block.get("override_frequency_per_30d"))], "decay and override frequency")
    md(decision_words(p))
    from qmtl_research.governance.live import live_returns

    series, _ = live_returns(rep.strategy)
    plot_rolling_sharpe(series[series.index <= pd.Timestamp(p["live_end"])], p["live_start"],
                        block["backtest_sharpe"])
    figure(f"Rolling {ROLLING_DAYS}-day annualised Sharpe ratio from a year before the live start (dotted line), "
           f"against the backtest's Sharpe (dashed line).")
