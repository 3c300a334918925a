"""Diebold-Mariano test of equal predictive accuracy (squared-error loss).

With forecast errors ``e_a``, ``e_b`` of two models on the same targets and
loss differential ``d_t = e_a,t**2 - e_b,t**2`` (negative favours ``a``):

* ``DM = mean(d) / sqrt(V)``, where ``V`` is the Newey-West (Bartlett kernel)
  HAC variance of the mean with ``h-1`` lags,
  ``V = (g_0 + 2 * sum_{k=1}^{h-1} (1 - k/h) g_k) / n`` and
  ``g_k = (1/n) sum_t (d_t - dbar)(d_{t-k} - dbar)`` (computed by statsmodels'
  HAC covariance of a regression on a constant);
* Harvey-Leybourne-Newbold small-sample correction
  ``DM* = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)``, two-sided p-value from
  Student's t with ``n-1`` degrees of freedom.

``h`` is the forecast horizon in periods: a 4-week-ahead 1-month vol forecast
has overlapping errors up to lag 3, hence ``h=4``.
"""
from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy import stats


def diebold_mariano(e_a, e_b, h: int = 4) -> dict:
    """DM test with HLN correction for squared-error loss.

    Parameters
    ----------
    e_a, e_b:
        Forecast errors (realised - forecast) of models a and b, aligned in time.
    h:
        Forecast horizon (periods); HAC lags = ``h-1``.

    Returns
    -------
    dict with ``dm_stat`` (HLN-corrected; negative = a more accurate),
    ``p_value`` (two-sided), ``mean_loss_diff`` (mean of d, same units as the
    squared errors), ``n``. NaN statistic and p-value when the loss
    differential has no variance (e.g. identical forecasts).
    """
    e_a = np.asarray(e_a, dtype=float)
    e_b = np.asarray(e_b, dtype=float)
    if e_a.shape != e_b.shape or e_a.ndim != 1:
        raise ValueError("e_a and e_b must be 1-D arrays of the same length")
    return dm_test_loss_differential(e_a ** 2 - e_b ** 2, h)


def dm_test_loss_differential(d, h: int = 4) -> dict:
    """The DM/HLN test on a given loss differential series ``d_t = L_a,t - L_b,t``
    (NaNs dropped); see :func:`diebold_mariano` for the statistic and the result."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    out = {"dm_stat": float("nan"), "p_value": float("nan"),
           "mean_loss_diff": float(d.mean()) if n else float("nan"), "n": n}
    if n < 3 or np.allclose(d, d[0]):
        return out
    fit = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": h - 1, "use_correction": False})
    var = float(fit.bse[0] ** 2)
    if not np.isfinite(var) or var <= 0:
        return out
    dm = d.mean() / np.sqrt(var)
    correction = np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = float(dm * correction)
    out.update(dm_stat=stat, p_value=float(2 * stats.t.sf(abs(stat), df=n - 1)))
    return out
