"""Realised-volatility targets: annualised rolling standard deviations of weekly returns.

Conventions used everywhere in stage 1 (and by stage 2):

* input: weekly **simple** returns as fractions (0.01 = +1 %), as in
  :class:`~qmtl_research.data.panel.FundPanel`;
* the standard deviation is the **sample** standard deviation (``ddof=1``),
  like the regulator's 156-week standard deviation;
* annualisation multiplies by ``sqrt(52)`` (52 weeks a year);
* output is in **percent** (the paper's units: 17.86 means 17.86 % a year).

The value at date ``t`` uses the ``window`` returns ending at ``t`` inclusive
(``t-window+1 .. t``); it is NaN until ``window`` returns are available.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

WEEKS_PER_YEAR = 52
TARGET_WINDOW = 4          # 1 month = 4 weeks: the stage-1 target
REGULATORY_WINDOW = 156    # 3 years: the regulator's grade measure (paper Table 1)
STAGE2_WINDOW = 152        # the 152-week std blended with the 1-month forecast in stage 2


def realized_vol(returns: pd.DataFrame | pd.Series, window: int = TARGET_WINDOW,
                 periods_per_year: int = WEEKS_PER_YEAR) -> pd.DataFrame | pd.Series:
    """Rolling annualised standard deviation of weekly simple returns, in percent.

    Parameters
    ----------
    returns:
        Weekly simple returns as fractions; a Series (one fund) or a DataFrame
        (columns = funds), indexed by week-end date.
    window:
        Number of weekly returns in each window (4 = the 1-month target,
        156 = the regulatory 3-year measure, 152 = the stage-2 input).
    periods_per_year:
        Annualisation factor: the std is multiplied by ``sqrt(periods_per_year)``.

    Returns
    -------
    Same shape as ``returns``: ``std(r[t-window+1..t], ddof=1) * sqrt(52) * 100``
    (percent per year), NaN where fewer than ``window`` returns are available.
    Always non-negative.
    """
    if window < 2:
        raise ValueError("window must be >= 2 for a sample standard deviation (ddof=1)")
    std = returns.rolling(window, min_periods=window).std(ddof=1)
    return std * np.sqrt(periods_per_year) * 100.0


def regulatory_vol(returns: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """The regulator's measure: 156-week annualised std (ddof=1), percent."""
    return realized_vol(returns, REGULATORY_WINDOW)


def stage2_vol(returns: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """The 152-week annualised std (ddof=1), percent, blended with the 1-month forecast in stage 2."""
    return realized_vol(returns, STAGE2_WINDOW)


def variance_to_target_scale(weekly_variances: np.ndarray, scale: float = 1.0,
                             periods_per_year: int = WEEKS_PER_YEAR) -> np.ndarray:
    """Map weekly variance forecasts to the 1-month annualised std target, percent.

    ``sqrt(mean(h_1..h_k) * scale**2 * 52) * 100`` along the last axis, where
    ``h_1..h_k`` are the variance forecasts of the next ``k`` weekly returns
    (k = 4 for one month) of a series that was divided by ``scale`` before
    fitting. The expected sample variance (ddof=1) of k returns with a constant
    mean equals the mean of their variances, so this is the forecast of the
    squared target, reported as its square root.
    """
    v = np.asarray(weekly_variances, dtype=float)
    return np.sqrt(v.mean(axis=-1) * scale ** 2 * periods_per_year) * 100.0
