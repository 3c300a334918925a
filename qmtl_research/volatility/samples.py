"""Supervised samples for stage 1: one row per (fund, forecast origin ``t``).

For origin ``t`` (a week-end date) and window/horizon 4:

* inputs ``sigma_t-4 .. sigma_t-1``: the 1-month realised vol target (%, see
  :mod:`~qmtl_research.volatility.targets`) at weeks ``t-4..t-1``;
* inputs ``r_t-4 .. r_t-1``: the GARCH conditional volatility (%) of those weeks;
* ``garch_1m``: the GARCH 1-month forecast for weeks ``t..t+3`` made at ``t-1``;
* outputs ``y_t+0 .. y_t+3``: the target at ``t..t+3`` (the paper's 4 outputs);
* ``y``: the evaluated target ``y_t+3`` = realised vol of the 4 returns
  ``t..t+3``, none of which is known at ``t-1``; ``date`` is its week (``t+3``).

Everything a row's inputs use was observed by week ``t-1``. All frames are on one
date grid (rows) x funds (columns); origins whose outputs fall beyond the grid get NaN
outputs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.volatility.targets import TARGET_WINDOW


def sigma_columns(window: int) -> list[str]:
    """Names of the one-month-vol inputs, oldest first: ``sigma_t-<window> .. sigma_t-1``.

    Parameters
    ----------
    window : int
        Inputs per sample.

    Returns
    -------
    list of str
    """
    return [f"sigma_t-{k}" for k in range(window, 0, -1)]


def r_columns(window: int) -> list[str]:
    """Names of the GARCH conditional-vol inputs, oldest first: ``r_t-<window> .. r_t-1``.

    Parameters
    ----------
    window : int
        Inputs per sample.

    Returns
    -------
    list of str
    """
    return [f"r_t-{k}" for k in range(window, 0, -1)]


def y_columns(horizon: int) -> list[str]:
    """Names of the output steps: ``y_t+0 .. y_t+<horizon-1>``.

    Parameters
    ----------
    horizon : int
        Output steps.

    Returns
    -------
    list of str
    """
    return [f"y_t+{k}" for k in range(horizon)]


def _values(frame: pd.DataFrame | None, like: pd.DataFrame) -> np.ndarray:
    if frame is None:
        return np.full(like.shape, np.nan)
    return frame.reindex(index=like.index, columns=like.columns).to_numpy(dtype=float, na_value=np.nan)


def gather(target: pd.DataFrame, cond_vol: pd.DataFrame | None, garch_forecast: pd.DataFrame | None,
           positions: np.ndarray, cols: np.ndarray, window: int = TARGET_WINDOW, horizon: int = TARGET_WINDOW,
           arrays: tuple | None = None) -> pd.DataFrame:
    """Sample rows for the (origin grid position, fund column) pairs ``positions``, ``cols``.

    ``arrays`` may pass the three value matrices (target, cond_vol, garch_forecast aligned
    to ``target``) to skip re-aligning them on repeated calls. Values outside the grid are NaN.

    Parameters
    ----------
    target : DataFrame
        Realised 1-month vols (%), grid dates x funds.
    cond_vol : DataFrame or None
        GARCH conditional vols ``r`` (%), same grid; None without GARCH-based models.
    garch_forecast : DataFrame or None
        GARCH 1-month forecasts (%), same grid.
    positions, cols : ndarray of int
        Grid positions of the origins and fund columns.
    window, horizon : int
        Inputs and outputs per sample.
    arrays : tuple of ndarray, optional
        The three grids as arrays (avoids a conversion).

    Returns
    -------
    DataFrame
    """
    t_vals, r_vals, g_vals = arrays if arrays is not None else (
        _values(target, target), _values(cond_vol, target), _values(garch_forecast, target))
    positions = np.asarray(positions, dtype=int)
    cols = np.asarray(cols, dtype=int)
    n_rows = t_vals.shape[0]

    def take(vals, offsets):
        idx = positions[:, None] + offsets[None, :]
        ok = (idx >= 0) & (idx < n_rows)
        out = np.full(idx.shape, np.nan)
        out[ok] = vals[idx[ok], np.broadcast_to(cols[:, None], idx.shape)[ok]]
        return out

    back = np.arange(-window, 0)
    sig = take(t_vals, back)
    rr = take(r_vals, back)
    ys = take(t_vals, np.arange(horizon))
    g = g_vals[positions, cols] if len(positions) else np.empty(0)
    dates = target.index
    date_pos = np.minimum(positions + horizon - 1, n_rows - 1)
    frame = pd.DataFrame(np.column_stack([sig, rr, g, ys]) if len(positions) else
                         np.empty((0, 2 * window + 1 + horizon)),
                         columns=[*sigma_columns(window), *r_columns(window), "garch_1m", *y_columns(horizon)])
    frame.insert(0, "fund_id", np.asarray(target.columns, dtype=object)[cols].astype(str))
    frame.insert(1, "origin", dates[positions])
    out_date = dates[date_pos].to_numpy().copy()
    out_date[positions + horizon - 1 >= n_rows] = np.datetime64("NaT")
    frame.insert(2, "date", out_date)
    frame["y"] = frame[y_columns(horizon)[-1]]
    return frame


def build_samples(target: pd.DataFrame, cond_vol: pd.DataFrame | None = None,
                  garch_forecast: pd.DataFrame | None = None, window: int = TARGET_WINDOW,
                  horizon: int = TARGET_WINDOW) -> pd.DataFrame:
    """Long table of all complete samples (sigma inputs and every output present).

    ``cond_vol`` / ``garch_forecast`` may lack funds (GARCH failures) or be None: their
    columns are then NaN, and models that need them skip the row.

    Parameters
    ----------
    target : DataFrame
        Realised 1-month vols (%), grid dates x funds.
    cond_vol : DataFrame or None
        GARCH conditional vols ``r`` (%), same grid; None without GARCH-based models.
    garch_forecast : DataFrame or None
        GARCH 1-month forecasts (%), same grid.
    window, horizon : int
        Inputs and outputs per sample.

    Returns
    -------
    DataFrame with columns ``fund_id, origin, date``, the sigma/r input columns,
    ``garch_1m``, the ``y_t+k`` outputs and ``y``; sorted by origin, then fund.
    """
    n_rows, n_funds = target.shape
    pos = np.arange(window, max(window, n_rows - horizon + 1))
    positions = np.repeat(pos, n_funds)
    cols = np.tile(np.arange(n_funds), len(pos))
    frame = gather(target, cond_vol, garch_forecast, positions, cols, window, horizon)
    complete = frame[[*sigma_columns(window), *y_columns(horizon)]].notna().all(axis=1)
    return frame.loc[complete].reset_index(drop=True)


def build_inputs(target: pd.DataFrame, cond_vol: pd.DataFrame | None, garch_forecast: pd.DataFrame | None,
                 fund_ids, origins, window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Input rows (no outputs needed) for given ``(fund_id, origin)`` pairs.

    ``origins`` must be dates of ``target.index``; the inputs are the same as
    in :func:`build_samples` (weeks ``t-window..t-1``), NaN where unavailable.

    Parameters
    ----------
    target : DataFrame
        Realised 1-month vols (%), grid dates x funds.
    cond_vol : DataFrame or None
        GARCH conditional vols ``r`` (%), same grid; None without GARCH-based models.
    garch_forecast : DataFrame or None
        GARCH 1-month forecasts (%), same grid.
    fund_ids, origins : sequence
        The requested (fund, origin) pairs.
    window : int
        Inputs per sample.

    Returns
    -------
    DataFrame
    """
    pos = target.index.get_indexer(pd.DatetimeIndex(origins))
    if (pos < 0).any():
        raise ValueError("every origin must be a date of the target index")
    cols = target.columns.get_indexer(list(fund_ids))
    if (cols < 0).any():
        raise ValueError("every fund id must be a column of the target")
    frame = gather(target, cond_vol, garch_forecast, pos, cols, window, horizon=1)
    return frame[["fund_id", "origin", *sigma_columns(window), *r_columns(window), "garch_1m"]]
