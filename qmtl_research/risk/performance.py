"""PerformanceReport: the seed's performance analyser on a return series.

Conventions (printed by the CLI, stated here once):

* Returns are per-period **simple** returns as fractions; ``periods_per_year``
  defaults to 252 (daily). ``risk_free`` is an **annual** rate, converted to a
  per-period rate ``rf_p = risk_free / periods_per_year`` (simple division).
* ``total_return = prod(1 + r) - 1``; ``annual_return`` = CAGR
  ``(1 + total) ** (periods_per_year / n) - 1`` (= empyrical ``annual_return``).
* ``volatility = std(r, ddof=1) * sqrt(periods_per_year)`` (= empyrical).
* ``sharpe = mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(ppy)`` (= empyrical
  ``sharpe_ratio`` with ``risk_free=rf_p``).
* ``sortino = mean(r - rf_p) * ppy / (sqrt(mean(min(r - rf_p, 0)^2)) * sqrt(ppy))``
  (= empyrical ``sortino_ratio`` with ``required_return=rf_p``).
* ``max_drawdown`` is **negative** (or 0) in this report, the seed's and empyrical's
  display sign: the worst ``wealth / running peak - 1`` with wealth starting at 1 before
  the first return, i.e. minus :func:`qmtl_research.measures.max_drawdown` (the measure's
  one home, a positive loss fraction).
* ``beta = cov(r - rf_p, b - rf_p) / var(b - rf_p)`` with population (ddof=0)
  moments; ``alpha`` is annualised **compounding** the mean daily residual:
  ``(1 + mean(r - rf_p - beta (b - rf_p))) ** ppy - 1`` (= empyrical
  ``alpha_beta`` with ``risk_free=rf_p``). The seed's alpha (total return minus
  benchmark total return) is ``excess_return``.
* ``calmar = annual_return / |max_drawdown|`` (= empyrical).
* ``information_ratio = mean(r - b) / std(r - b, ddof=1) * sqrt(ppy)`` -
  **annualised**; empyrical ``excess_sharpe`` is the same without ``sqrt(ppy)``.
* Trading figures are per period (we have returns, not trades): ``win_rate`` =
  share of positive periods among non-zero ones, ``avg_win`` mean of positive
  returns, ``avg_loss`` mean of negative returns (a negative number),
  ``profit_factor = sum(positive) / |sum(negative)|``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from qmtl_research import measures as _measures
from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_returns

PERIODS = ("1M", "3M", "6M", "YTD", "1Y", "3Y", "5Y", "ALL", "custom")
CONVENTIONS_TEXT = ("simple returns; periods/year {ppy}; risk-free {rf:.4%} p.a. (rf/ppy per period); "
                    "annual return = CAGR; volatility = std(ddof=1)*sqrt(ppy); max drawdown negative; "
                    "alpha annualised by compounding the mean daily residual; IR annualised")


@dataclass
class PerformanceReport:
    """Performance of a return series over a period (fractions; see module docstring).

    Attributes
    ----------
    period : str
        One of :data:`PERIODS`.
    start_date, end_date : str
        First and last date of the period, ISO ``YYYY-MM-DD``.
    n_periods : int
        Returns in the period.
    periods_per_year : int
        Annualisation factor (252 = daily).
    risk_free : float
        Annual risk-free rate, a fraction (per period: ``risk_free / periods_per_year``).
    total_return : float
        ``prod(1 + r) - 1`` over the period, a fraction.
    annual_return : float
        CAGR, a fraction per year.
    volatility : float
        Annualised standard deviation (ddof=1), a fraction.
    sharpe, sortino : float
        Annualised ratios of the excess returns over ``rf / ppy``.
    max_drawdown : float
        The worst drawdown, **negative** (or 0), a fraction.
    win_rate : float
        Share of positive periods among non-zero ones (NaN when none).
    avg_win, avg_loss : float
        Mean positive and mean negative per-period return (``avg_loss`` negative; 0 when none).
    profit_factor : float
        ``sum(positive) / |sum(negative)|`` (inf without a negative period).
    calmar : float
        ``annual_return / |max_drawdown|`` (NaN without a drawdown).
    benchmark : float or None
        The benchmark's total return over the period (fraction); ``None`` without a benchmark,
        as are the fields below.
    excess_return : float or None
        ``total_return - benchmark`` (the seed's alpha).
    alpha : float or None
        Annualised by compounding the mean per-period residual, a fraction per year.
    beta : float or None
        Population (ddof=0) beta of the excess returns on the benchmark's.
    information_ratio : float or None
        Annualised: ``mean(r - b) / std(r - b, ddof=1) * sqrt(ppy)``.
    tracking_error : float or None
        Annualised: ``std(r - b, ddof=1) * sqrt(ppy)``, a fraction.
    """

    period: str
    start_date: str
    end_date: str
    n_periods: int
    periods_per_year: int
    risk_free: float
    total_return: float
    annual_return: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    win_rate: float
    avg_win: float
    avg_loss: float
    profit_factor: float
    calmar: float
    benchmark: float | None = None
    excess_return: float | None = None
    alpha: float | None = None
    beta: float | None = None
    information_ratio: float | None = None
    tracking_error: float | None = None

    def as_dict(self) -> dict:
        """The fields as a plain dict, non-finite floats as ``None``."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @property
    def conventions(self) -> str:
        """One line stating the report's conventions (periods per year, risk-free rate, signs)."""
        return CONVENTIONS_TEXT.format(ppy=self.periods_per_year, rf=self.risk_free)


def period_bounds(period: str, index: pd.DatetimeIndex, start: str | None = None,
                  end: str | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Inclusive ``(start, end)`` of a named period ending at ``end`` (default:
    the last date). ``1M``/``3M``/``6M``/``1Y``/``3Y``/``5Y``: dates after
    ``end - offset``; ``YTD``: from January 1 of ``end``'s year; ``ALL``: all;
    ``custom``: ``start``..``end`` as given.

    Parameters
    ----------
    period : str
        One of :data:`PERIODS` (case-insensitive).
    index : pandas.DatetimeIndex
        The series' dates.
    start : str or None
        ISO start date; needed by ``custom``, ignored otherwise.
    end : str or None
        ISO end date; default the last date of ``index``.

    Returns
    -------
    (pandas.Timestamp, pandas.Timestamp)
        Inclusive start and end.
    """
    if len(index) == 0:
        raise InputError("no dates", where="returns")
    last = pd.Timestamp(end) if end else index[-1]
    offsets = {"1M": pd.DateOffset(months=1), "3M": pd.DateOffset(months=3), "6M": pd.DateOffset(months=6),
               "1Y": pd.DateOffset(years=1), "3Y": pd.DateOffset(years=3), "5Y": pd.DateOffset(years=5)}
    p = period.upper() if period.lower() != "custom" else "custom"
    if p in offsets:
        return last - offsets[p] + pd.Timedelta(days=1), last
    if p == "YTD":
        return pd.Timestamp(year=last.year, month=1, day=1), last
    if p == "ALL":
        return index[0], last
    if p == "custom":
        if not start:
            raise InputError("a custom period needs a start date", where="period", fix="pass --start YYYY-MM-DD")
        return pd.Timestamp(start), last
    raise InputError(f"unknown period {period!r}", where="period", fix=f"use one of: {', '.join(PERIODS)}")


def analyze(returns: pd.Series, benchmark: pd.Series | None = None, period: str = "ALL", *,
            start: str | None = None, end: str | None = None, risk_free: float = 0.0,
            periods_per_year: int = 252) -> PerformanceReport:
    """Build a :class:`PerformanceReport` for ``period`` (see :func:`period_bounds`).

    ``benchmark`` is aligned on the strategy's dates (dates missing in the
    benchmark are an error).

    Parameters
    ----------
    returns : pandas.Series
        Per-period simple returns as fractions, on a DatetimeIndex (at least 2 in the period).
    benchmark : pandas.Series or None
        The benchmark's per-period simple returns (fractions).
    period : str
        One of :data:`PERIODS`.
    start, end : str or None
        ISO dates (see :func:`period_bounds`).
    risk_free : float
        **Annual** risk-free rate, a fraction (0.03 = 3 % p.a.).
    periods_per_year : int
        Annualisation factor (252 = daily, 52 = weekly).

    Returns
    -------
    PerformanceReport
    """
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        raise InputError("returns must be a Series with a DatetimeIndex", where="returns")
    lo, hi = period_bounds(period, returns.index, start, end)
    r_s = returns.loc[lo:hi]
    r = check_returns(r_s, where=f"returns {period}", min_samples=2)
    ppy = int(periods_per_year)
    rf = risk_free / ppy
    n = r.size
    total = float(np.prod(1.0 + r) - 1.0)
    annual = float((1.0 + total) ** (ppy / n) - 1.0)
    ex = r - rf
    vol = float(r.std(ddof=1) * math.sqrt(ppy))
    sharpe = _measures.sharpe_ratio(r, periods_per_year=ppy, risk_free=rf)
    sortino = _measures.sortino_ratio(r, periods_per_year=ppy, risk_free=rf)
    mdd = -_measures.max_drawdown(r) + 0.0      # the report's display sign: negative (+ 0.0: no -0.0)
    pos, neg = r[r > 0], r[r < 0]
    win_rate = pos.size / (pos.size + neg.size) if pos.size + neg.size else float("nan")
    profit_factor = float(pos.sum() / -neg.sum()) if neg.size else float("inf")
    calmar = annual / abs(mdd) if mdd < 0 else float("nan")
    rep = PerformanceReport(period=period, start_date=r_s.index[0].date().isoformat(),
                            end_date=r_s.index[-1].date().isoformat(), n_periods=n, periods_per_year=ppy,
                            risk_free=float(risk_free), total_return=total, annual_return=annual, volatility=vol,
                            sharpe=sharpe, sortino=sortino, max_drawdown=mdd, win_rate=float(win_rate),
                            avg_win=float(pos.mean()) if pos.size else 0.0,
                            avg_loss=float(neg.mean()) if neg.size else 0.0,
                            profit_factor=profit_factor, calmar=float(calmar))
    if benchmark is not None:
        b_s = benchmark.reindex(r_s.index)
        b = check_returns(b_s, where="benchmark returns (aligned on the strategy's dates)")
        bex = b - rf
        var_b = float(np.mean((bex - bex.mean()) ** 2))
        beta = float(np.mean((bex - bex.mean()) * ex) / var_b) if var_b > 1e-30 else float("nan")
        alpha = float((1.0 + np.mean(ex - beta * bex)) ** ppy - 1.0)
        rep.benchmark = float(np.prod(1.0 + b) - 1.0)
        rep.excess_return = total - rep.benchmark
        rep.alpha, rep.beta = alpha, beta
        rep.tracking_error = _measures.tracking_error(r, b, periods_per_year=ppy)
        rep.information_ratio = _measures.information_ratio(r, b, periods_per_year=ppy)
    return rep
