"""Lean walk-forward of the closed-form challengers, EWMA (RiskMetrics) and HAR, for one fund.

:func:`~qmtl_research.volatility.series.series_walk_forward` drives a ``"series"`` model fund by
fund and refit by refit through the :class:`~qmtl_research.volatility.registry.VolatilityModel`
protocol: a fit, then a filter over the fund's whole history, per refit. For the two challengers
whose estimation is a closed form, that costs mostly Python round trips (statsmodels builds a model
and a results object per refit; weekly refits at paper scale are ~775,000 of them).
:func:`walk_fund` computes the same numbers with less:

* **EWMA** (:class:`~qmtl_research.volatility.challengers.EWMAVolatility`): nothing is estimated and
  the backcast uses the first ``min(75, n)`` returns of the fit sample, which are the fund's first 75
  returns at every refit once each fit sample has at least 75: every refit gives the same filter,
  so it runs once per fund.
* **HAR** (:class:`~qmtl_research.volatility.challengers.HARVolatility`): each refit's least squares
  is statsmodels' ``OLS(...).fit()`` computed directly: the pseudo-inverse of ``pinv_extended``
  (NumPy's SVD; singular values up to ``1e-15`` x the largest dropped) times the target, R-squared
  as statsmodels (``1 - ssr / centered_tss``), the rank check (from the same singular values),
  floor and floored count of :meth:`~qmtl_research.volatility.challengers.HARVolatility.fit`: the
  same floating-point operations, so the same numbers. The design is built once per refit over
  the whole history (its rows up to the fit sample's end are the fit's: cumulative sums run left
  to right); and its product with the parameters is taken whole (a BLAS product's
  rows can differ in the last bit with the number of rows), then sliced.

The tests check both against the per-fund driver with the models' own ``fit`` (and those against
arch and statsmodels). A fund with a gap inside its history, a fit sample shorter than the model's
minimum or (HAR) a collinear design is left to the per-fund driver (``walk_fund`` returns False
before writing anything), which lists the failure as before.
"""
from __future__ import annotations

import numpy as np

from qmtl_research.volatility.challengers import BACKCAST_OBS, EWMAVolatility, HARVolatility
from qmtl_research.volatility.targets import expected_target_vol

PINV_RCOND = 1e-15          # statsmodels' pinv_extended cut-off (the OLS(...).fit() default)


def _fit_row(name: str, fund: str, when, n_obs: int, params: dict, loglik: float, flags: str) -> dict:
    """A row of the series fits table, formatted as :func:`~qmtl_research.volatility.series._fit` does."""
    return {"model": name, "fund_id": fund, "fit_date": when, "n_obs": int(n_obs), "loglik": float(loglik),
            "params": ", ".join(f"{k} {v:.6g}" for k, v in params.items()), "flags": flags}


def _targets(v: np.ndarray, horizon: int) -> np.ndarray:
    """Expected 1-month target (%) of flat variance forecasts ``v`` (NaN where not finite or negative)."""
    out = np.full(len(v), np.nan)
    ok = np.isfinite(v) & (v >= 0)
    if ok.any():
        out[ok] = expected_target_vol(np.repeat(v[ok, None], horizon, axis=1))
    return out


def walk_fund(model, name: str, fund: str, r: np.ndarray, first: int, events: list[int], grid, horizon: int,
              column: np.ndarray, fits: list) -> bool:
    """One fund's walk-forward of the shipped EWMA or HAR model, written into ``column`` and ``fits``.

    Parameters
    ----------
    model : VolatilityModel
        A freshly built model of the fund (used for its hyper-parameters; EWMA's also fitted).
    name : str
        The registered model name (the fits table's ``model``).
    fund : str
        The fund id.
    r : ndarray
        The fund's returns from its first to its last finite one.
    first : int
        Grid position of ``r[0]``.
    events : list of int
        Grid positions of the fund's estimations (increasing; each fits ``r`` before it).
    grid : DatetimeIndex
        The date grid (the returns' weeks plus one).
    horizon : int
        Weeks of the forecast month.
    column : ndarray
        The fund's forecast column on the grid (written from the first event on).
    fits : list of dict
        Fit rows, appended.

    Returns
    -------
    bool
        False (nothing written) when the fund must take the per-fund driver's path.
    """
    if not events or not np.isfinite(r).all():
        return False
    n_obs = [min(pos - first, len(r)) for pos in events]
    if min(n_obs) < model.min_obs:
        return False
    if type(model) is EWMAVolatility:
        return _ewma(model, name, fund, r, first, events, n_obs, grid, horizon, column, fits)
    if type(model) is HARVolatility:
        return _har(model, name, fund, r, first, events, n_obs, grid, horizon, column, fits)
    return False


def _segments(first: int, n_ret: int, events: list[int], n_grid: int):
    """``(event, lo, hi)``: the grid rows each estimation forecasts (up to the next one, within the history)."""
    for k, pos in enumerate(events):
        nxt = events[k + 1] if k + 1 < len(events) else n_grid
        yield k, pos, min(nxt, first + n_ret + 1)


def _ewma(model, name, fund, r, first, events, n_obs, grid, horizon, column, fits) -> bool:
    if min(n_obs) < BACKCAST_OBS:           # the backcast would differ between refits
        return False
    model.fit(r[: n_obs[0]])                # the backcast: the same first returns in every fit sample
    v = _targets(model.variances(r), horizon)
    params = {"lambda": model.lam, "backcast": model.backcast_}
    for k, pos, hi in _segments(first, len(r), events, len(grid)):
        fits.append(_fit_row(name, fund, grid[pos].date(), n_obs[k], params, np.nan, ""))
        if hi > pos:
            column[pos:hi] = v[pos - first: hi - first]
    return True


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    """statsmodels' ``OLS(y, x).fit()`` (method ``pinv``) with the same operations: ``(params, rsquared,
    rank)``, the rank as :func:`numpy.linalg.matrix_rank` counts it (singular values above
    ``max(s) * max(x.shape) * eps``)."""
    u, s, vt = np.linalg.svd(x, False)
    rank = int((s > s.max(initial=0.0) * max(x.shape) * np.finfo(s.dtype).eps).sum())
    cutoff = PINV_RCOND * np.maximum.reduce(s)
    s_inv = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    pinv = np.dot(np.transpose(vt), np.multiply(s_inv[:, np.newaxis], np.transpose(u)))
    beta = np.dot(pinv, y)
    resid = y - np.dot(x, beta)
    ones = np.ones(len(y))
    mean = np.average(y, weights=ones)
    r2 = 1 - np.dot(resid, resid) / np.sum(ones * (y - mean) ** 2)
    return beta, float(r2), rank


def _har(model, name, fund, r, first, events, n_obs, grid, horizon, column, fits) -> bool:
    from qmtl_research.volatility.challengers import rolling_mean_before

    if horizon != model.horizon:
        return False
    lo, h = max(model.lags), model.horizon
    solved = []
    for n in n_obs:                         # every refit's fit first: a collinear one leaves the fund to the driver
        train = r[:n]
        mean = float(train.mean())
        x_all = model.design(r, mean)       # its first n + 1 rows are design(train, mean): cumulative sums
        e2 = (train - mean) ** 2
        target = rolling_mean_before(e2, h)[h:]
        x = x_all[lo: n - h + 1]
        beta, r2, rank = _ols(x, target[lo: n - h + 1])
        if rank < x.shape[1]:
            return False
        floor = model.floor_share * float(train.var(ddof=1))
        n_floored = int(((x @ beta) < floor).sum())
        solved.append((x_all, beta, floor, n_floored, r2))
    labels = ["const", *[f"rv_{k}w" for k in model.lags]]
    for k, pos, hi in _segments(first, len(r), events, len(grid)):
        x_all, beta, floor, n_floored, r2 = solved[k]
        flags = (f"{n_floored} in-sample forecasts below the floor ({model.floor_share:g} x sample variance)"
                 if n_floored else "")
        fits.append(_fit_row(name, fund, grid[pos].date(), n_obs[k],
                             {**dict(zip(labels, map(float, beta))), "r2": r2}, np.nan, flags))
        if hi > pos:
            v = (x_all @ beta)[pos - first: hi - first]       # the whole product, as the model's forecast
            v = np.where(np.isfinite(v), np.maximum(v, floor), np.nan)
            column[pos:hi] = _targets(v, horizon)
    return True
