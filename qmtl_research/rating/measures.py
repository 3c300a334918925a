"""Stage-2 risk indicators as pure functions of weekly simple returns.

Conventions (shared by every function here):

* inputs are 1-D arrays of **weekly simple returns as fractions** (0.01 = +1 %),
  without NaN (callers cut the window first);
* annualisation uses 52 weeks per year: means x 52, standard deviations x sqrt(52);
* standard deviations use ``ddof=1`` (sample std);
* the risk-free rate is a **weekly** rate as a fraction, 0 unless configured;
* quantities quoted "in percent" are multiplied by 100 (25.0 = 25 %);
* VaR is a **positive loss** (a 2 % weekly loss at the 97.5 % level -> 2.0).
"""
from __future__ import annotations

import numpy as np

from qmtl_research.conventions import WEEKS_PER_YEAR
from qmtl_research.grades import annualised_std_pct  # noqa: F401  (one home: the grade table's measure)
from qmtl_research import measures as _measures
from qmtl_research.measures import sharpe_ratio  # noqa: F401  (one home: qmtl_research.measures)

PERIODS_PER_YEAR = WEEKS_PER_YEAR
#: the historical quantile convention of the stage-2 VaR feature (qmtl_research.risk.var.CONVENTIONS)
VAR_CONVENTION = "linear"


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def tracking_error_pct(returns, benchmark, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualised tracking error against the benchmark, in percent:
    :func:`qmtl_research.measures.tracking_error` x 100 (``std(r - b, ddof=1) * sqrt(periods) * 100``).

    Parameters
    ----------
    returns : array-like of float
        Weekly simple returns of the fund (fractions).
    benchmark : array-like of float
        The benchmark's weekly simple returns on the same weeks (fractions).
    periods : int, default 52
        Periods per year.

    Returns
    -------
    float
        Percent (e.g. 4.2 = 4.2 % a year).
    """
    return _measures.tracking_error(returns, benchmark, periods_per_year=periods) * 100.0


def information_ratio(returns, benchmark, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualised information ratio of weekly returns (unitless):
    :func:`qmtl_research.measures.information_ratio` with 52 periods a year.

    Parameters
    ----------
    returns : array-like of float
        Weekly simple returns of the fund (fractions).
    benchmark : array-like of float
        The benchmark's weekly simple returns on the same weeks (fractions).
    periods : int, default 52
        Periods per year.

    Returns
    -------
    float
        Annualised mean active return over tracking error; positive = ahead of the benchmark.
    """
    return _measures.information_ratio(returns, benchmark, periods_per_year=periods)


def historical_var_pct(returns, confidence: float = 0.975) -> float:
    """Historical Value-at-Risk of one week's return, in percent, as a positive loss.

    :func:`qmtl_research.risk.var.historical_var` with the convention :data:`VAR_CONVENTION`:
    ``-quantile(r, 1 - confidence) * 100`` with numpy's linear interpolation. Negative when even
    the lower quantile is a gain.

    Parameters
    ----------
    returns : array-like of float
        Weekly simple returns (fractions).
    confidence : float, default 0.975
        Confidence level of the VaR.

    Returns
    -------
    float
        Percent of the value, positive = loss.
    """
    from qmtl_research.risk.var import historical_var

    return historical_var(_arr(returns), confidence, convention=VAR_CONVENTION).var * 100.0


def beta(returns, benchmark) -> float:
    """Beta of the fund to its benchmark (unitless): ``cov(r, b) / var(b)``, both with
    ``ddof=1``. NaN when the benchmark has zero variance.

    Parameters
    ----------
    returns : array-like of float
        Weekly simple returns of the fund (fractions).
    benchmark : array-like of float
        The benchmark's weekly simple returns on the same weeks (fractions).

    Returns
    -------
    float
    """
    r, b = _arr(returns), _arr(benchmark)
    vb = np.var(b, ddof=1)
    return float(np.cov(r, b, ddof=1)[0, 1] / vb) if vb > 0 else float("nan")


def blended_std_pct(known_std_pct, forecast_std_pct, horizon_weeks: int, window: int = 156):
    """Blend the known part of the grading window with the stage-1 forecast, in percent.

    At the prediction date ``window - h`` of the ``window`` weekly returns that
    decide the grade are known (their annualised std is ``s``) and ``h`` are
    not (the stage-1 forecast of their annualised std is ``f``). Weighting the
    two parts by their number of weeks on the **variance** scale::

        blended = sqrt(((window - h) * s**2 + h * f**2) / window)

    (``s``, ``f`` and the result are annualised std in percent). This is the
    std the full window would have if the known and forecast weeks shared one
    mean. Works element-wise on arrays.

    Parameters
    ----------
    known_std_pct : float or array-like
        Annualised std of the known weeks, percent.
    forecast_std_pct : float or array-like
        Stage-1 forecast of the unknown weeks' annualised std, percent.
    horizon_weeks : int
        ``h``: the weeks not yet observed.
    window : int, default 156
        Weeks of the grading window.

    Returns
    -------
    float or numpy.ndarray
        Annualised std in percent.
    """
    h = np.asarray(horizon_weeks, dtype=float)
    s, f = _arr(known_std_pct), _arr(forecast_std_pct)
    out = np.sqrt(((window - h) * s ** 2 + h * f ** 2) / window)
    return float(out) if out.ndim == 0 else out
