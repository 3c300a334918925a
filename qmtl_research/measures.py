"""Return measures: the one home of every measure of a return series that the project
reports (rating features, audit reports, validation metric blocks).

Conventions (shared by every function here; :mod:`qmtl_research.conventions` prints them):

* ``returns`` are periodic **simple** returns as fractions (0.01 = +1 %); NaNs are dropped;
* ratios are **annualised** with ``periods_per_year`` (252 daily, 52 weekly, 12 monthly),
  which callers always name: means x ppy, standard deviations x sqrt(ppy), Sharpe-type
  ratios x sqrt(ppy); standard deviations use ``ddof=1``;
* ``risk_free`` is the risk-free rate **per period** (a fraction), subtracted from every
  return before a ratio is taken (callers holding an annual rate divide it by ppy);
* losses are **positive** fractions: the maximum drawdown (0.25 = a 25 % fall from the
  peak), VaR and ES (0.02 = a 2 % loss over one period). Layers that print another sign
  (the audit PerformanceReport's negative drawdown, empyrical's sign) negate at display;
* probabilities (PSR, DSR) are in [0, 1].

The signature of every annualised measure is ``(returns, *, periods_per_year, risk_free)``.
Over 400 lines because it is the one home of every measure (and the historical VaR/ES
conventions, :func:`historical_tail`), each with its numpy docstring.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from qmtl_research.errors import InputError

#: tail level of the validation rules' VaR/ES (0.01 = the 99 % VaR)
VAR_ALPHA = 0.01
#: the historical quantile convention of the measures' VaR/ES (one of :data:`CONVENTIONS`)
VAR_CONVENTION = "linear"
#: numpy.quantile methods usable as historical VaR conventions
NUMPY_METHODS = ("lower", "higher", "nearest", "midpoint", "linear", "inverted_cdf",
                 "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
                 "hazen", "weibull", "median_unbiased", "normal_unbiased")
#: the historical VaR/ES conventions (described in :mod:`qmtl_research.risk.var`)
CONVENTIONS = ("seed", "basel") + NUMPY_METHODS


def clean(returns: Any) -> np.ndarray:
    """1-D float array of the returns with NaNs removed.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); any shape, flattened.

    Returns
    -------
    ndarray of shape (n,)
        The finite and infinite values in their order; NaNs left out.
    """
    r = np.asarray(returns, dtype=float).ravel()
    return r[~np.isnan(r)]


def sharpe_ratio(returns: Any, *, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio (unitless).

    ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``; equals
    ``empyrical.sharpe_ratio(r, risk_free, annualization=periods_per_year)``.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.
    periods_per_year : float
        Annualisation factor (252 daily, 52 weekly).
    risk_free : float, default 0.0
        Risk-free rate per period (fraction).

    Returns
    -------
    float
        NaN with fewer than two observations or zero dispersion.
    """
    ex = clean(returns) - risk_free
    if ex.size < 2:
        return math.nan
    sd = ex.std(ddof=1)
    return math.nan if sd == 0 else float(ex.mean() / sd * math.sqrt(periods_per_year))


def sortino_ratio(returns: Any, *, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sortino ratio (unitless), the target return being ``risk_free``.

    ``mean(r - rf) / sqrt(mean(min(r - rf, 0)^2)) * sqrt(periods_per_year)``; equals
    ``empyrical.sortino_ratio(r, required_return=rf, annualization=periods_per_year)``.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.
    periods_per_year : float
        Annualisation factor.
    risk_free : float, default 0.0
        Target (risk-free) return per period (fraction).

    Returns
    -------
    float
        +inf when no period falls below the target, NaN with fewer than two observations.
    """
    ex = clean(returns) - risk_free
    if ex.size < 2:
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(ex, 0.0) ** 2)))
    return math.inf if dd == 0 else float(ex.mean() / dd * math.sqrt(periods_per_year))


def wealth_curve(returns: Any) -> np.ndarray:
    """Compounded wealth ``1, (1+r1), (1+r1)(1+r2), ...`` (length n+1, starts at 1).

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.

    Returns
    -------
    ndarray of shape (n + 1,)
    """
    return np.concatenate([[1.0], np.cumprod(1.0 + clean(returns))])


def drawdown_series(returns: Any) -> np.ndarray:
    """Drawdown after each period as a **positive** fraction: ``1 - W_t / max_{s<=t} W_s`` (W_0 = 1).

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.

    Returns
    -------
    ndarray of shape (n,)
        Values in [0, 1]; 0 at a new peak.
    """
    w = wealth_curve(returns)
    return (1.0 - w / np.maximum.accumulate(w))[1:]


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough fall of compounded wealth, a **positive** fraction in [0, 1].

    0.25 = a 25 % fall; empyrical's ``max_drawdown`` is the same number with a minus sign.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped. The peak includes the start (1).

    Returns
    -------
    float
        NaN for an empty series.
    """
    r = clean(returns)
    return float(drawdown_series(r).max()) if r.size else math.nan


def gain_to_pain_ratio(returns: Any) -> float:
    """Gain-to-pain ratio (QMTL's definition, unitless): ``sum(r) / |sum of the negative r|``.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.

    Returns
    -------
    float
        At least -1; +inf without a losing period; NaN for an empty series.
    """
    r = clean(returns)
    if r.size == 0:
        return math.nan
    pain = abs(float(r[r < 0].sum()))
    return math.inf if pain == 0 else float(r.sum() / pain)


def tracking_error(returns: Any, benchmark: Any, *, periods_per_year: float) -> float:
    """Annualised tracking error, a fraction: ``std(r - b, ddof=1) * sqrt(periods_per_year)``.

    Parameters
    ----------
    returns, benchmark : array-like
        Periodic simple returns (fractions) of the fund and its benchmark, aligned, same length.
        Paired measures drop nothing: a NaN in either gives NaN.
    periods_per_year : float
        Annualisation factor.

    Returns
    -------
    float
    """
    active = np.asarray(returns, dtype=float) - np.asarray(benchmark, dtype=float)
    return float(np.std(active, ddof=1) * np.sqrt(periods_per_year))


def information_ratio(returns: Any, benchmark: Any, *, periods_per_year: float) -> float:
    """Annualised information ratio (unitless): ``mean(r - b) / std(r - b, ddof=1) * sqrt(ppy)``.

    Positive when the fund beats its benchmark; empyrical's ``excess_sharpe`` is the same
    without ``sqrt(periods_per_year)``.

    Parameters
    ----------
    returns, benchmark : array-like
        Periodic simple returns (fractions), aligned, same length; a NaN in either gives NaN.
    periods_per_year : float
        Annualisation factor.

    Returns
    -------
    float
        NaN when the active returns have zero dispersion.
    """
    active = np.asarray(returns, dtype=float) - np.asarray(benchmark, dtype=float)
    sd = np.std(active, ddof=1)
    return float(np.mean(active) / sd * np.sqrt(periods_per_year)) if sd > 0 else math.nan


def historical_tail(sorted_returns: np.ndarray, confidence: float, convention: str) -> tuple[float, float]:
    """Historical VaR and ES of sorted returns under one quantile convention.

    The one home of the historical conventions: :func:`qmtl_research.risk.var.historical_var`
    (which validates its inputs first) and :func:`var_es` both call it.

    Parameters
    ----------
    sorted_returns : ndarray of shape (n,)
        Finite periodic returns (fractions), sorted ascending, n >= 1.
    confidence : float
        Confidence level ``c`` in (0, 1); the tail probability is ``1 - c``.
    convention : str
        One of :data:`CONVENTIONS`: ``"seed"`` (``-sorted[int((1 - c) n)]``), ``"basel"`` (the
        ``ceil((1 - c) n)``-th worst return) or a ``numpy.quantile`` method.

    Returns
    -------
    (float, float)
        ``(VaR, ES)`` as positive loss fractions for one period.

    Raises
    ------
    InputError
        For an unknown convention.
    """
    sorted_r, c = sorted_returns, confidence
    n = sorted_r.size
    if convention == "seed":
        idx = int((1.0 - c) * n)
        return float(-sorted_r[idx]), float(-sorted_r[: idx + 1].mean())
    if convention == "basel":
        k = max(1, math.ceil((1.0 - c) * n - 1e-12))
        return float(-sorted_r[k - 1]), float(-sorted_r[:k].mean())
    if convention in NUMPY_METHODS:
        q = float(np.quantile(sorted_r, 1.0 - c, method=convention))
        tail = sorted_r[sorted_r <= q]
        if tail.size == 0:          # interpolating methods can fall below the minimum
            tail = sorted_r[:1]
        return -q, float(-tail.mean())
    raise InputError(f"unknown VaR convention {convention!r}", where="convention",
                     fix=f"use one of: {', '.join(CONVENTIONS)}")


def var_es(returns: Any, alpha: float = VAR_ALPHA) -> tuple[float, float]:
    """Historical one-period VaR and ES at tail level ``alpha``, **positive** loss fractions.

    :func:`historical_tail` (as :func:`qmtl_research.risk.var.historical_var`) with :data:`VAR_CONVENTION`:
    ``VaR = -numpy.quantile(r, alpha)`` (linear interpolation), ``ES = -mean(r | r <= that
    quantile)``. Not annualised.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.
    alpha : float, default 0.01
        Tail probability (0.01 = the 99 % VaR).

    Returns
    -------
    (float, float)
        ``(VaR, ES)``; negative when even the tail is a gain; NaN, NaN for an empty series.
    """
    r = clean(returns)
    if r.size == 0:
        return math.nan, math.nan
    if not 0.0 < alpha < 1.0:
        raise InputError(f"tail level {alpha!r} is outside (0, 1)", where="alpha",
                         fix="give a tail probability such as 0.01 (the 99 % VaR)")
    if not np.isfinite(r).all():
        raise InputError(f"{int((~np.isfinite(r)).sum())} infinite return(s) in the series", where="returns",
                         fix="remove or fill infinite returns explicitly before computing risk")
    return historical_tail(np.sort(r), 1.0 - alpha, VAR_CONVENTION)


def probabilistic_sharpe_ratio(returns: Any, *, periods_per_year: float, risk_free: float = 0.0,
                               benchmark_sharpe: float = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012): P(true Sharpe > benchmark).

    ``Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))`` with SR the per-period
    Sharpe ratio (std ddof=1) of ``r - rf``, g3 the skewness and g4 the (non-excess) kurtosis
    (biased sample moments). Computed by ``skfolio.measures.probabilistic_sharpe_ratio``, whose
    inputs are per period: the annualised ``benchmark_sharpe`` is divided by
    ``sqrt(periods_per_year)`` first.

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.
    periods_per_year : float
        Annualisation factor of ``benchmark_sharpe``.
    risk_free : float, default 0.0
        Risk-free rate per period (fraction).
    benchmark_sharpe : float, default 0.0
        The benchmark Sharpe ratio SR*, **annualised**.

    Returns
    -------
    float
        A probability in [0, 1]; NaN with fewer than three observations, zero dispersion or a
        variance term that is not positive (a two-point sample with g3 SR = 2).
    """
    from skfolio.measures import probabilistic_sharpe_ratio as _psr

    r = clean(returns)
    if r.size < 3 or r.std(ddof=1) == 0:
        return math.nan
    return float(_psr(r, benchmark_sharpe_ratio=benchmark_sharpe / math.sqrt(periods_per_year),
                      risk_free_rate=risk_free))


def expected_max_sharpe(n_trials: int, sharpe_std: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates of unskilled trials (Bailey & Lopez de
    Prado 2014): ``std x ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``.

    ``skfolio.measures.expected_max_sharpe_ratio`` with trial mean 0.

    Parameters
    ----------
    n_trials : int
        Number of independent trials N (>= 1).
    sharpe_std : float
        Cross-trial standard deviation of the Sharpe ratios (the result has its units).

    Returns
    -------
    float
        0 when N = 1.

    Raises
    ------
    ValueError
        ``n_trials`` below 1 or ``sharpe_std`` negative.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be >= 1")
    from skfolio.measures import expected_max_sharpe_ratio

    return float(expected_max_sharpe_ratio(n_trials, sharpe_std))


def deflated_sharpe_ratio(returns: Any, *, periods_per_year: float, risk_free: float = 0.0, n_trials: int = 1,
                          trials_sharpe_std: float | None = None) -> float:
    """Deflated Sharpe ratio: the PSR against the expected maximum Sharpe of ``n_trials`` unskilled
    trials (Bailey & Lopez de Prado 2014).

    skfolio's ``deflated_sharpe_ratio`` needs every trial's Sharpe ratio; the project knows only
    their number and dispersion, so the benchmark is :func:`expected_max_sharpe` (skfolio's) and
    the probability :func:`probabilistic_sharpe_ratio` (skfolio's).

    Parameters
    ----------
    returns : array-like
        Periodic simple returns (fractions); NaNs are dropped.
    periods_per_year : float
        Annualisation factor of ``trials_sharpe_std``.
    risk_free : float, default 0.0
        Risk-free rate per period (fraction).
    n_trials : int, default 1
        Number of trials the strategy was selected from; 1 gives the PSR against 0.
    trials_sharpe_std : float or None
        Cross-trial std of the **annualised** Sharpe ratios; None: the standard error of this
        Sharpe estimate, ``sqrt((1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1))`` (per period).

    Returns
    -------
    float
        A probability in [0, 1]; NaN as for :func:`probabilistic_sharpe_ratio`.
    """
    from scipy import stats

    r = clean(returns)
    if r.size < 3 or r.std(ddof=1) == 0:
        return math.nan
    if trials_sharpe_std is None:
        ex = r - risk_free
        sr = ex.mean() / ex.std(ddof=1)
        g3, g4 = stats.skew(ex, bias=True), stats.kurtosis(ex, fisher=False, bias=True)
        std_pp = math.sqrt(max(1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr ** 2, 1e-12) / (r.size - 1))
    else:
        std_pp = trials_sharpe_std / math.sqrt(periods_per_year)
    sr0_annual = expected_max_sharpe(n_trials, std_pp) * math.sqrt(periods_per_year)
    return probabilistic_sharpe_ratio(r, periods_per_year=periods_per_year, risk_free=risk_free,
                                      benchmark_sharpe=sr0_annual)
