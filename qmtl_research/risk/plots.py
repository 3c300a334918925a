"""Figures of the risk study (matplotlib), used by the var notebook and the Validation Report;
every axis labelled with units. Inputs are the section ``risk`` of the results contract."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def plot_mc_percentiles(montecarlo: dict, holding_days: int, label: str = "", figsize=(8, 3.2)):
    """Percentiles of the simulated holding-period return (%), with minus VaR/CVaR lines.

    Parameters
    ----------
    montecarlo : dict
        :meth:`~qmtl_research.risk.montecarlo.MonteCarloResult.as_dict`: ``percentiles``
        (returns, fractions) and ``var_95``, ``var_99``, ``cvar_99`` (positive loss fractions,
        drawn at minus their value).
    holding_days : int
        The holding period, for the labels.
    label : str
        Added to the title.
    figsize : (float, float)
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pct = pd.Series({int(k): v for k, v in montecarlo["percentiles"].items()}).sort_index()
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(pct.index, pct.values * 100, marker="o", color="#1f3b5c", label="simulated percentile")
    for name, key, ls in (("VaR 95 %", "var_95", "--"), ("VaR 99 %", "var_99", "-"), ("CVaR 99 %", "cvar_99", ":")):
        if montecarlo.get(key) is not None:
            ax.axhline(-montecarlo[key] * 100, color="#b22222", ls=ls, lw=1,
                       label=f"-{name}: {montecarlo[key] * 100:.2f} % loss")
    ax.set_title(f"Monte Carlo {holding_days}-day portfolio return ({label})" if label else
                 f"Monte Carlo {holding_days}-day portfolio return")
    ax.set_xlabel("percentile of the simulated distribution")
    ax.set_ylabel(f"{holding_days}-day return (%)")
    ax.legend(fontsize=8)
    return fig


def plot_backtest(series: pd.DataFrame, backtest: dict, figsize=(8, 3.6)):
    """Daily returns, minus the VaR forecast and the exceptions of a VaR backtest (%).

    Parameters
    ----------
    series : pandas.DataFrame
        Date-indexed ``return`` (fraction), ``var`` (positive loss fraction) and ``exception``.
    backtest : dict
        :meth:`~qmtl_research.risk.backtest.BacktestResult.as_dict` (``confidence``, ``method``,
        ``window``, ``zone``), for the labels.
    figsize : (float, float)
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(series.index, series["return"] * 100, lw=0.5, color="#555555", label="daily return")
    ax.plot(series.index, -series["var"] * 100, lw=1.0, color="#1f77b4",
            label=f"-VaR {backtest['confidence'] * 100:g} %")
    exc = series[series["exception"].astype(bool)]
    ax.scatter(exc.index, exc["return"] * 100, color="#d62728", s=10, zorder=3, label=f"exceptions ({len(exc)})")
    ax.set_title(f"VaR backtest ({backtest['method']}, window {backtest['window']}): zone {backtest['zone']}")
    ax.set_xlabel("date")
    ax.set_ylabel("daily return (%)")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_growth(portfolio: pd.Series, benchmark: pd.Series | None = None, figsize=(8, 3.2)):
    """Growth of 1 (compounded simple returns, log scale) of the portfolio and its benchmark.

    Parameters
    ----------
    portfolio : pandas.Series
        Date-indexed daily simple returns (fractions).
    benchmark : pandas.Series or None
        The benchmark's daily simple returns (fractions).
    figsize : (float, float)
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot((1 + portfolio).cumprod(), label="portfolio", color="#1f3b5c")
    if benchmark is not None:
        ax.plot((1 + benchmark).cumprod(), label=str(benchmark.name or "benchmark"), color="#999999")
    ax.set_yscale("log")
    ax.set_title("Growth of 1 (daily rebalanced constant weights)")
    ax.set_xlabel("date")
    ax.set_ylabel("wealth (log scale)")
    ax.legend()
    return fig


def plot_attribution(attribution: pd.DataFrame, figsize=(8, 3.4)):
    """Contribution of each factor, alpha and the residual to the summed daily returns (% points).

    Parameters
    ----------
    attribution : pandas.DataFrame
        :class:`~qmtl_research.risk.attribution.AttributionResult`'s ``table`` (``factor``,
        ``contribution`` as a fraction).
    figsize : (float, float)
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = attribution.set_index("factor")["contribution"] * 100
    fig, ax = plt.subplots(figsize=figsize)
    ax.bar(t.index, t.values, color=["#1f77b4" if v >= 0 else "#d62728" for v in t.values])
    ax.axhline(0, color="black", lw=0.5)
    ax.set_title("Return attribution (summed daily returns)")
    ax.set_xlabel("factor")
    ax.set_ylabel("contribution (% points)")
    return fig


def plot_fund_exceedances(forecasts: pd.DataFrame, level: float = 0.99, figsize=(8, 3.4)):
    """Share of funds whose weekly loss exceeded the one-week VaR, per week and model (%), against
    the expected share ``1 - level`` (volatility/var_forecasts; weeks with an observed return).

    Parameters
    ----------
    forecasts : pandas.DataFrame
        :class:`~qmtl_research.risk.fund_var.FundRisk`'s ``forecasts``: ``model``, ``origin``,
        ``return`` (weekly, fraction) and ``var_<level %>`` (positive weekly loss fraction).
    level : float
        VaR level, a fraction (0.99).
    figsize : (float, float)
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    key = f"var_{level * 100:g}"
    f = forecasts[forecasts["return"].notna()]
    fig, ax = plt.subplots(figsize=figsize)
    for model, g in f.groupby("model", sort=False):
        share = (-g["return"] > g[key]).groupby(g["origin"]).mean() * 100
        ax.plot(share.index, share.values, lw=0.8, label=f"{model} (mean {share.mean():.2f} %)")
    ax.axhline((1 - level) * 100, color="black", ls="--", lw=1, label=f"expected {(1 - level) * 100:g} %")
    ax.set_title(f"Fund-week VaR {level * 100:g} % exceedances by week")
    ax.set_xlabel("week (forecast origin)")
    ax.set_ylabel("funds with an exception (%)")
    ax.legend(fontsize=7, ncol=2)
    return fig
