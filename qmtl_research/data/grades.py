"""The regulatory grade of a volatility level (the paper's Table 1), as used by the
data layer to fill ``disclosed_grade`` of generated universes.

Table 1 (annualised standard deviation of the 156 weekly simple returns before
the settlement date, percent): grade 1 above 25 %, grade 2 <= 25 %, grade 3 <= 15 %,
grade 4 <= 10 %, grade 5 <= 5 %, grade 6 <= 0.5 %. A level exactly on a bound
belongs to the lower-risk grade (``<=``).

The rating stage owns the configurable grade table (``params/rating/``); this
module holds only the published default so that the data layer does not depend
on an analysis stage (data flows one way).
"""
from __future__ import annotations

import numpy as np

#: upper bounds (percent, inclusive) of grades 2..6; above the first bound is grade 1
TABLE1_UPPER_BOUNDS_PCT = (25.0, 15.0, 10.0, 5.0, 0.5)
WEEKS_PER_YEAR = 52
GRADE_WINDOW_WEEKS = 156


def annualised_std_pct(weekly_returns, axis: int = 0) -> np.ndarray:
    """Annualised standard deviation of weekly simple returns, in percent.

    Parameters
    ----------
    weekly_returns : array-like
        Weekly simple returns as fractions (0.01 = +1 %).
    axis : int
        Axis along which observations run.

    Returns
    -------
    numpy.ndarray
        ``std(ddof=1) * sqrt(52) * 100``; NaN where fewer than two observations.
    """
    x = np.asarray(weekly_returns, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanstd(x, axis=axis, ddof=1) * np.sqrt(WEEKS_PER_YEAR) * 100.0


def grade_of_std(std_pct) -> np.ndarray:
    """Table 1 grade (1 = highest risk .. 6 = lowest) of annualised std in percent.

    Parameters
    ----------
    std_pct : array-like of float
        Annualised standard deviation in percent (15.0 = 15 %).

    Returns
    -------
    numpy.ndarray of float
        Grade 1..6 as float (NaN where ``std_pct`` is NaN). A value exactly on a
        bound gets the lower-risk grade: 25.0 -> 2, 25.0001 -> 1, 0.5 -> 6.
    """
    s = np.asarray(std_pct, dtype=float)
    # number of bounds the level is <= to: 0 -> grade 1, 5 -> grade 6
    grade = 1.0 + sum((s <= b).astype(float) for b in TABLE1_UPPER_BOUNDS_PCT)
    return np.where(np.isnan(s), np.nan, grade)
