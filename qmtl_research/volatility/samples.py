"""Supervised samples for stage 1: one row per (fund, forecast origin ``t``).

For origin ``t`` (a week-end date) and window/horizon 4:

* inputs ``sigma_t-4 .. sigma_t-1``: the 1-month realised vol target (%, see
  :mod:`~qmtl_research.volatility.targets`) at weeks ``t-4..t-1``;
* inputs ``r_t-4 .. r_t-1``: the GARCH conditional volatility (%) at those weeks;
* ``garch_1m``: the GARCH 1-month forecast for weeks ``t..t+3`` made at ``t-1``;
* outputs ``y_t+0 .. y_t+3``: the target at ``t..t+3`` (the paper's 4 outputs);
* ``y``: the evaluated target ``y_t+3`` = realised vol of the 4 returns
  ``t..t+3``, none of which is known at ``t-1``; ``date`` is its week (``t+3``).

Everything a row's inputs use was observed by week ``t-1``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def sigma_columns(window: int) -> list[str]:
    return [f"sigma_t-{k}" for k in range(window, 0, -1)]


def r_columns(window: int) -> list[str]:
    return [f"r_t-{k}" for k in range(window, 0, -1)]


def y_columns(horizon: int) -> list[str]:
    return [f"y_t+{k}" for k in range(horizon)]


def build_samples(target: pd.DataFrame, cond_vol: pd.DataFrame | None = None,
                  garch_forecast: pd.DataFrame | None = None, window: int = 4,
                  horizon: int = 4) -> pd.DataFrame:
    """Long table of samples; rows whose target inputs or outputs are missing are left out.

    ``cond_vol`` / ``garch_forecast`` may lack funds (GARCH failures) or be
    None: their columns are then NaN, and models that need them skip the row.

    Returns
    -------
    DataFrame with columns ``fund_id, origin, date``, the sigma/r input columns,
    ``garch_1m``, the ``y_t+k`` outputs and ``y``; sorted by origin, then fund.
    """
    funds = list(target.columns)
    dates = target.index

    def aligned(frame):
        if frame is None:
            return np.full(target.shape, np.nan)
        return frame.reindex(index=dates, columns=funds).to_numpy(dtype=float, na_value=np.nan)

    t_vals = target.to_numpy(dtype=float, na_value=np.nan)
    r_vals, g_vals = aligned(cond_vol), aligned(garch_forecast)
    span = window + horizon
    if len(dates) < span:
        return pd.DataFrame(columns=["fund_id", "origin", "date", *sigma_columns(window), *r_columns(window),
                                     "garch_1m", *y_columns(horizon), "y"])
    tw = sliding_window_view(t_vals, span, axis=0)           # (n_origins, n_funds, span)
    rw = sliding_window_view(r_vals, window, axis=0)[:len(tw)]
    n_origins, n_funds = tw.shape[:2]
    origin_pos = np.arange(window, window + n_origins)
    sig = tw[:, :, :window].reshape(-1, window)
    ys = tw[:, :, window:].reshape(-1, horizon)
    rr = rw.reshape(-1, window)
    gg = g_vals[origin_pos].reshape(-1)
    frame = pd.DataFrame(np.column_stack([sig, rr, gg, ys]),
                         columns=[*sigma_columns(window), *r_columns(window), "garch_1m", *y_columns(horizon)])
    frame.insert(0, "fund_id", np.tile(np.asarray(funds, dtype=object), n_origins))
    frame.insert(1, "origin", np.repeat(dates[origin_pos].to_numpy(), n_funds))
    frame.insert(2, "date", np.repeat(dates[origin_pos + horizon - 1].to_numpy(), n_funds))
    frame["y"] = frame[y_columns(horizon)[-1]]
    complete = frame[[*sigma_columns(window), *y_columns(horizon)]].notna().all(axis=1)
    frame = frame.loc[complete].reset_index(drop=True)
    frame["fund_id"] = frame["fund_id"].astype(str)
    return frame


def build_inputs(target: pd.DataFrame, cond_vol: pd.DataFrame | None, garch_forecast: pd.DataFrame | None,
                 fund_ids, origins, window: int = 4) -> pd.DataFrame:
    """Input rows (no outputs needed) for given ``(fund_id, origin)`` pairs.

    ``origins`` must be dates of ``target.index``; the inputs are the same as
    in :func:`build_samples` (weeks ``t-window..t-1``), NaN where unavailable.
    """
    dates = target.index
    pos = dates.get_indexer(pd.DatetimeIndex(origins))
    if (pos < 0).any():
        raise ValueError("every origin must be a date of the target index")
    cols = target.columns.get_indexer(list(fund_ids))
    if (cols < 0).any():
        raise ValueError("every fund id must be a column of the target")

    def lagged(frame):
        if frame is None:
            return np.full((len(pos), window), np.nan)
        vals = frame.reindex(index=dates, columns=target.columns).to_numpy(dtype=float, na_value=np.nan)
        lag_pos = pos[:, None] + np.arange(-window, 0)[None, :]
        ok = lag_pos >= 0
        out = np.full(lag_pos.shape, np.nan)
        out[ok] = vals[lag_pos[ok], np.broadcast_to(cols[:, None], lag_pos.shape)[ok]]
        return out

    g = np.full(len(pos), np.nan)
    if garch_forecast is not None:
        gv = garch_forecast.reindex(index=dates, columns=target.columns).to_numpy(dtype=float, na_value=np.nan)
        g = gv[pos, cols]
    frame = pd.DataFrame(np.column_stack([lagged(target), lagged(cond_vol), g]),
                         columns=[*sigma_columns(window), *r_columns(window), "garch_1m"])
    frame.insert(0, "fund_id", [str(f) for f in fund_ids])
    frame.insert(1, "origin", pd.DatetimeIndex(origins))
    return frame
