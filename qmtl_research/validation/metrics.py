"""QMTL metric blocks computed from a return series.

Conventions (one for the whole project, printed by :data:`SHARPE_CONVENTION`):

* returns are **simple** per-period returns as fractions (0.01 = +1 %);
* Sharpe ratio = mean(r) / std(r, ddof=1) x sqrt(periods_per_year), risk-free
  rate 0 (annualised). Sortino uses the same annualisation with target 0;
* drawdowns, VaR and ES are **positive loss fractions** (0.2 = a 20 % loss);
  VaR/ES are per period (not annualised), historical (empirical quantile);
* PSR/DSR are probabilities in [0, 1] computed on the per-period Sharpe ratio
  with the skewness and (non-excess) kurtosis of the sample (biased moments),
  following Bailey & Lopez de Prado (2012, 2014).

The measures themselves (Sharpe, Sortino, drawdowns, gain-to-pain, VaR/ES, PSR/DSR) live in
:mod:`qmtl_research.measures`, their one home; this module assembles QMTL's blocks from them.

The v1 core paths (12) and the v1.5 paths are listed in :data:`CORE_PATHS` and
:data:`V15_PATHS`. ``risk.*`` and ``sample.n_trades_*`` exist only when trade /
liquidity data is given; otherwise they are absent (missing), never guessed.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from qmtl_research.conventions import WEEKS_PER_YEAR
from qmtl_research.metric_paths import get_metric  # noqa: F401  (its home: the rules read it without numpy/sklearn)
from qmtl_research.measures import (VAR_CONVENTION, clean, deflated_sharpe_ratio, drawdown_series,  # noqa: F401
                                    expected_max_sharpe, gain_to_pain_ratio, max_drawdown, probabilistic_sharpe_ratio,
                                    sharpe_ratio, sortino_ratio, var_es, wealth_curve)

SHARPE_CONVENTION = ("Sharpe = mean(r) / std(r, ddof=1) x sqrt(periods_per_year), risk-free 0, "
                     "simple per-period returns; drawdown/VaR/ES are positive loss fractions")

CORE_PATHS: tuple[str, ...] = (
    "returns.sharpe", "returns.max_drawdown", "returns.gain_to_pain_ratio", "returns.time_under_water_ratio",
    "sample.effective_history_years", "sample.n_trades_total", "sample.n_trades_per_year",
    "risk.adv_utilization_p95", "risk.participation_rate_p95",
    "robustness.deflated_sharpe_ratio", "robustness.sharpe_first_half", "robustness.sharpe_second_half",
)
V15_PATHS: tuple[str, ...] = (
    "returns.sortino_ratio", "returns.var_p01", "returns.es_p01", "returns.max_time_under_water_days",
    "sample.regime_coverage", "risk.factor_exposures", "risk.incremental_var_99", "risk.incremental_es_99",
    "robustness.probabilistic_sharpe_ratio", "robustness.cv_folds", "robustness.cv_sharpe_mean",
    "robustness.cv_sharpe_std",
)

#: the values a metric can take under this project's conventions (module docstring): path ->
#: (lowest, highest), inclusive, ``None`` = unbounded. A run export holding a finite value outside
#: its domain is refused when loaded (:func:`qmtl_research.validation.qmtl_runs.parse_runs`), and a
#: policy bound no value of the domain can satisfy is refused by ``policy check``
#: (:func:`qmtl_research.validation.policy.parse_policy`). Losses are positive fractions of wealth:
#: with simple returns > -100 %, a drawdown lies in [0, 1] and a per-period VaR/ES is at most 1 (it
#: is negative when even the tail return is a gain). Probabilities and shares lie in [0, 1];
#: counts, durations, utilisations and dispersions are >= 0; gain-to-pain = sum(r) / |sum of losses|
#: >= -1. Ratios such as Sharpe and Sortino are unbounded. Non-finite values are not domain errors:
#: the rules fail them (``<metric>_not_finite``).
METRIC_DOMAINS: dict[str, tuple[float | None, float | None]] = {
    "returns.max_drawdown": (0.0, 1.0), "returns.time_under_water_ratio": (0.0, 1.0),
    "returns.gain_to_pain_ratio": (-1.0, None), "returns.var_p01": (None, 1.0), "returns.es_p01": (None, 1.0),
    "returns.max_time_under_water_days": (0.0, None),
    "sample.effective_history_years": (0.0, None), "sample.n_trades_total": (0.0, None),
    "sample.n_trades_per_year": (0.0, None), "sample.sample_days": (0.0, None), "sample.num_trades": (0.0, None),
    "sample.regime_coverage": (0.0, 1.0),
    "risk.adv_utilization_p95": (0.0, None), "risk.participation_rate_p95": (0.0, None),
    "robustness.deflated_sharpe_ratio": (0.0, 1.0), "robustness.probabilistic_sharpe_ratio": (0.0, 1.0),
    "robustness.cv_folds": (0.0, None), "robustness.cv_sharpe_std": (0.0, None),
    "diagnostics.data_lag_days": (0.0, None),
    "live.max_drawdown_ratio": (0.0, None),
}


def domain_violation(path: str, value: Any) -> str | None:
    """Why ``value`` cannot be the metric ``path`` (see :data:`METRIC_DOMAINS`), or None.

    Parameters
    ----------
    path : dotted metric path, e.g. ``returns.max_drawdown``.
    value : the value; non-numbers, NaN and +-inf are not judged here (None).

    Returns
    -------
    str or None
        e.g. ``"-0.25 is below 0 (drawdowns are positive loss fractions)"``.
    """
    if path not in METRIC_DOMAINS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not math.isfinite(value):
        return None
    lo, hi = METRIC_DOMAINS[path]
    if lo is not None and value < lo:
        return f"{value!r} is below {lo:g}, the lowest value {path} can take ({DOMAIN_NOTE})"
    if hi is not None and value > hi:
        return f"{value!r} is above {hi:g}, the highest value {path} can take ({DOMAIN_NOTE})"
    return None


DOMAIN_NOTE = "losses are positive fractions, probabilities and shares in [0, 1], counts >= 0"


# ---------------------------------------------------------------- helpers
def infer_periods_per_year(index: pd.Index) -> int:
    """252 for (business-)daily, 52 for weekly, 12 for monthly data, from the median spacing."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        raise ValueError("periods_per_year cannot be inferred without a DatetimeIndex of >= 3 dates")
    days = float(np.median(np.diff(index.values).astype("timedelta64[D]").astype(float)))
    if days <= 3:
        return 252
    if days <= 10:
        return WEEKS_PER_YEAR
    if days <= 40:
        return 12
    return 4


# ---------------------------------------------------------------- returns block
def time_under_water_ratio(returns: Any) -> float:
    """Share of periods whose wealth is below the running peak (peak includes the start, 1.0)."""
    r = clean(returns)
    return float(np.mean(drawdown_series(r) > 0)) if r.size else math.nan


def max_time_under_water_days(returns: pd.Series, periods_per_year: float = 252) -> float:
    """Longest spell under water in calendar days: from the date of the peak to the date the
    peak is regained (or the last date). Without a DatetimeIndex, periods x 365.25 / periods_per_year."""
    s = pd.Series(returns).dropna()
    if s.empty:
        return math.nan
    under = drawdown_series(s.to_numpy()) > 0
    n, i, longest = len(under), 0, 0.0
    dated = isinstance(s.index, pd.DatetimeIndex) and n >= 2
    while i < n:
        if not under[i]:
            i += 1
            continue
        j = i
        while j < n and under[j]:
            j += 1
        # under water over periods i..j-1: the peak is period i-1 (inception before 0),
        # the peak is regained at period j (or the spell is still open at the last date)
        end = j if j < n else n - 1
        if dated:
            peak = s.index[i - 1] if i > 0 else s.index[0] - (s.index[1] - s.index[0])
            span = float((s.index[end] - peak).days)
        else:
            span = (end - (i - 1)) * 365.25 / periods_per_year
        longest = max(longest, span)
        i = j
    return longest


# ---------------------------------------------------------------- robustness block
def half_sharpes(returns: Any, periods_per_year: float = 252) -> tuple[float, float]:
    """Annualised Sharpe of the first and second half (by observation count; the middle
    observation of an odd sample goes to the second half)."""
    r = clean(returns)
    h = r.size // 2
    return (sharpe_ratio(r[:h], periods_per_year=periods_per_year),
            sharpe_ratio(r[h:], periods_per_year=periods_per_year))


def cv_sharpe(returns: Any, n_folds: int = 5, periods_per_year: float = 252) -> tuple[int, float, float]:
    """Sharpe over ``n_folds`` contiguous time folds (sklearn ``KFold`` without shuffling):
    (folds, mean of fold Sharpes, std ddof=1 of fold Sharpes), annualised."""
    r = clean(returns)
    if r.size < 2 * n_folds:
        return n_folds, math.nan, math.nan
    vals = [sharpe_ratio(r[test], periods_per_year=periods_per_year) for _, test in KFold(n_splits=n_folds).split(r)]
    return n_folds, float(np.mean(vals)), float(np.std(vals, ddof=1))


def regime_coverage(returns: pd.Series, market: pd.Series | None = None, window: int = 13,
                    min_share: float = 0.05) -> float:
    """Share of the four market regimes {up, down} x {calm, volatile} that the sample covers.

    Each period is classified by the sign of the market's trailing ``window``-period return and
    whether its trailing volatility is above the full-sample median; a regime counts as covered
    when it holds at least ``min_share`` of the classified periods. ``market`` defaults to the
    series itself. Returns a fraction in {0, .25, .5, .75, 1}."""
    m = pd.Series(market if market is not None else returns).dropna()
    if len(m) < 2 * window:
        return math.nan
    trend = (1 + m).rolling(window).apply(np.prod, raw=True) - 1
    vol = m.rolling(window).std()
    ok = trend.notna() & vol.notna()
    up = (trend[ok] >= 0).to_numpy()
    volatile = (vol[ok] > vol[ok].median()).to_numpy()
    shares = [np.mean(up & volatile), np.mean(up & ~volatile), np.mean(~up & volatile), np.mean(~up & ~volatile)]
    return float(np.mean([s >= min_share for s in shares]))


# ---------------------------------------------------------------- blocks
def trade_blocks(trades: pd.DataFrame, years: float) -> tuple[dict, dict]:
    """(sample-part, risk-part) from a trade log with columns ``quantity`` (signed or absolute),
    ``adv`` (average daily volume, same unit) and ``volume`` (market volume in the trade's
    period). adv_utilization_p95 = 95th percentile of |quantity| / adv; participation_rate_p95
    = 95th percentile of |quantity| / volume."""
    need = {"quantity", "adv", "volume"}
    missing = need - set(trades.columns)
    if missing:
        raise ValueError(f"trade log lacks columns {sorted(missing)}")
    q = trades["quantity"].abs().to_numpy(dtype=float)
    sample = {"n_trades_total": int(len(trades)),
              "n_trades_per_year": float(len(trades) / years) if years > 0 else math.nan}
    risk = {"adv_utilization_p95": float(np.percentile(q / trades["adv"].to_numpy(dtype=float), 95)),
            "participation_rate_p95": float(np.percentile(q / trades["volume"].to_numpy(dtype=float), 95))}
    return sample, risk


def compute_metric_blocks(returns: pd.Series, *, periods_per_year: float | None = None,
                          trades: pd.DataFrame | None = None, market: pd.Series | None = None,
                          n_trials: int = 1, trials_sharpe_std: float | None = None, cv_folds: int = 5,
                          as_of: dt.date | str | None = None, live_start: dt.date | str | None = None,
                          source: str = "returns") -> dict[str, dict]:
    """All metric blocks that follow from a return series (plus trades when given).

    Parameters
    ----------
    returns : Series of simple per-period returns (fractions), ideally with a DatetimeIndex.
    periods_per_year : annualisation factor; inferred from the index when None.
    trades : optional trade log (see :func:`trade_blocks`); without it ``sample.n_trades_*`` and
        ``risk.*`` are absent.
    market : optional market return series for :func:`regime_coverage`.
    n_trials, trials_sharpe_std : multiple-testing inputs of the deflated Sharpe ratio.
    as_of : evaluation date; gives ``diagnostics.data_lag_days`` (days since the last return).
    live_start : first date of the live / paper period; adds the ``live`` block
        (:func:`live_block`).

    Returns
    -------
    dict of blocks ``returns``, ``sample``, ``risk``, ``robustness``, ``diagnostics`` with
    floats (NaN where undefined).
    """
    s = pd.Series(returns).dropna().astype(float)
    ppy = periods_per_year or infer_periods_per_year(s.index)
    r = s.to_numpy()
    var01, es01 = var_es(r, 0.01)
    years = r.size / ppy
    first, second = half_sharpes(r, ppy)
    folds, cv_mean, cv_std = cv_sharpe(r, cv_folds, ppy)
    blocks: dict[str, dict] = {
        "returns": {"sharpe": sharpe_ratio(r, periods_per_year=ppy), "max_drawdown": max_drawdown(r),
                    "gain_to_pain_ratio": gain_to_pain_ratio(r), "time_under_water_ratio": time_under_water_ratio(r),
                    "sortino_ratio": sortino_ratio(r, periods_per_year=ppy), "var_p01": var01, "es_p01": es01,
                    "max_time_under_water_days": max_time_under_water_days(s, ppy)},
        "sample": {"effective_history_years": years,
                   "regime_coverage": regime_coverage(s, market)},
        "risk": {},
        "robustness": {"deflated_sharpe_ratio": deflated_sharpe_ratio(r, periods_per_year=ppy, n_trials=n_trials,
                                                                      trials_sharpe_std=trials_sharpe_std),
                       "probabilistic_sharpe_ratio": probabilistic_sharpe_ratio(r, periods_per_year=ppy),
                       "sharpe_first_half": first, "sharpe_second_half": second,
                       "cv_folds": folds, "cv_sharpe_mean": cv_mean, "cv_sharpe_std": cv_std},
        "diagnostics": {"returns_source": source, "periods_per_year": ppy, "n_periods": int(r.size),
                        "sharpe_convention": SHARPE_CONVENTION},
    }
    if trades is not None:
        sample, risk = trade_blocks(trades, years)
        blocks["sample"].update(sample)
        blocks["risk"].update(risk)
    if isinstance(s.index, pd.DatetimeIndex) and len(s):
        blocks["diagnostics"]["data_start"] = s.index[0].date().isoformat()
        blocks["diagnostics"]["data_end"] = s.index[-1].date().isoformat()
        if as_of is not None:
            blocks["diagnostics"]["data_lag_days"] = float((pd.Timestamp(as_of) - s.index[-1]).days)
        if live_start is not None:
            blocks["live"] = live_block(s, live_start, ppy)
    return blocks


# ---------------------------------------------------------------- live block (monitoring)
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
    out: dict[str, float] = {"backtest_sharpe": sharpe_ratio(bt, periods_per_year=periods_per_year),
                             "backtest_max_drawdown": max_drawdown(bt),
                             "live_sharpe": sharpe_ratio(live, periods_per_year=periods_per_year),
                             "live_max_drawdown": max_drawdown(live),
                             "live_days": float((live.index[-1] - live.index[0]).days + 1) if len(live) else 0.0}
    for w in windows:
        win = live[live.index > live.index[-1] - pd.Timedelta(days=w)] if len(live) else live
        out[f"sharpe_{w}d"] = sharpe_ratio(win, periods_per_year=periods_per_year)
        out[f"max_drawdown_{w}d"] = max_drawdown(win)
        out[f"es_p01_{w}d"] = var_es(win, 0.01)[1]
    b = out["backtest_sharpe"]
    out["live_vs_backtest_sharpe_ratio"] = out["live_sharpe"] / b if b and b > 0 and not math.isnan(b) else math.nan
    bd = out["backtest_max_drawdown"]
    out["max_drawdown_ratio"] = out["live_max_drawdown"] / bd if bd and bd > 0 else math.nan
    return out


def benchmark_block(portfolio: pd.Series, benchmark: pd.Series, periods_per_year: float | None = None) -> dict:
    """Benchmark comparison on the common dates: Sharpe uplift (portfolio - benchmark, annualised),
    max-drawdown and ES(99 %) improvements (benchmark loss - portfolio loss, positive = better)."""
    joined = pd.concat([pd.Series(portfolio), pd.Series(benchmark)], axis=1, join="inner").dropna()
    p, b = joined.iloc[:, 0], joined.iloc[:, 1]
    ppy = periods_per_year or infer_periods_per_year(joined.index)
    sharpe_b = sharpe_ratio(b, periods_per_year=ppy)
    return {"sharpe": sharpe_b, "sharpe_uplift": sharpe_ratio(p, periods_per_year=ppy) - sharpe_b,
            "max_drawdown": max_drawdown(b), "max_drawdown_improvement": max_drawdown(b) - max_drawdown(p),
            "es_p01": var_es(b)[1], "es_improvement": var_es(b)[1] - var_es(p)[1], "n_periods": int(len(joined))}


# ---------------------------------------------------------------- access
def metric_coverage_ratio(blocks: Mapping[str, Any], paths: Iterable[str] = CORE_PATHS) -> float:
    """Share of ``paths`` (default the 12 v1 core paths) holding a non-null value."""
    paths = list(paths)
    return sum(get_metric(blocks, p) is not None for p in paths) / len(paths)
