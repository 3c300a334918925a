"""Return-series measures shared by every layer (rating features, audit reports,
validation metric blocks): one home, pure functions, conventions stated.

All inputs are periodic **simple** returns as fractions (0.01 = +1 %); NaNs are dropped.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def clean(returns: Any) -> np.ndarray:
    """1-D float array of the returns with NaNs removed."""
    r = np.asarray(returns, dtype=float).ravel()
    return r[~np.isnan(r)]


def sharpe_ratio(returns: Any, periods_per_year: float = 252, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``.

    ``risk_free`` is the risk-free rate **per period** (fraction). NaN with fewer than two
    observations or zero dispersion. Equals ``empyrical.sharpe_ratio(r, risk_free, annualization=ppy)``.
    """
    ex = clean(returns) - risk_free
    if ex.size < 2:
        return math.nan
    sd = ex.std(ddof=1)
    return math.nan if sd == 0 else float(ex.mean() / sd * math.sqrt(periods_per_year))


def wealth_curve(returns: Any) -> np.ndarray:
    """Compounded wealth 1, (1+r1), (1+r1)(1+r2), ... (length n+1, starts at 1)."""
    return np.concatenate([[1.0], np.cumprod(1.0 + clean(returns))])


def drawdown_series(returns: Any) -> np.ndarray:
    """Drawdown after each period as a POSITIVE fraction: 1 - W_t / max_{s<=t} W_s (W_0 = 1)."""
    w = wealth_curve(returns)
    return (1.0 - w / np.maximum.accumulate(w))[1:]


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough loss of compounded wealth, a POSITIVE fraction in [0, 1]
    (0.25 = -25 %); empyrical's ``max_drawdown`` is the same number with a minus sign."""
    r = clean(returns)
    return float(drawdown_series(r).max()) if r.size else math.nan


def sortino_ratio(returns: Any, periods_per_year: float = 252, target: float = 0.0) -> float:
    """Annualised Sortino ratio: ``mean(r - t) / sqrt(mean(min(r - t, 0)^2)) * sqrt(periods_per_year)``,
    ``target`` per period (fraction). Infinite when no period falls below the target, NaN with
    fewer than two observations. Equals ``empyrical.sortino_ratio(r, required_return=t)``."""
    ex = clean(returns) - target
    if ex.size < 2:
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(ex, 0.0) ** 2)))
    return math.inf if dd == 0 else float(ex.mean() / dd * math.sqrt(periods_per_year))
