"""Per-fund input checks for stage 1: bad histories are reported, never silently dropped.

A fund fails the check (and is listed in the failures table with step
``"input"``) when its history is all-NaN, has a gap (NaN between its first and
last observation), is constant, or is shorter than the minimum length. The
other funds are still processed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FAILURE_COLUMNS = ["fund_id", "step", "message"]


def failures_frame(rows: list[dict] | None = None) -> pd.DataFrame:
    """The failures table: columns ``fund_id``, ``step``, ``message`` (may be empty).

    Parameters
    ----------
    rows : list of dict, optional
        ``{"fund_id", "step", "message"}`` rows.

    Returns
    -------
    DataFrame
    """
    frame = pd.DataFrame(rows or [], columns=FAILURE_COLUMNS)
    return frame.astype({"fund_id": str, "step": str, "message": str})


def check_histories(returns: pd.DataFrame, min_obs: int) -> tuple[list[str], list[dict]]:
    """Split funds into usable ones and failures.

    Parameters
    ----------
    returns:
        Weekly simple returns (fractions), columns = fund ids.
    min_obs:
        Minimum number of weekly returns a fund needs.

    Returns
    -------
    (usable fund ids, failure rows ``{"fund_id", "step": "input", "message"}``)
    """
    usable: list[str] = []
    failures: list[dict] = []
    for fund_id in returns.columns:
        series = returns[fund_id]
        message = _problem(series, min_obs)
        if message is None:
            usable.append(fund_id)
        else:
            failures.append({"fund_id": str(fund_id), "step": "input", "message": message})
    return usable, failures


def _problem(series: pd.Series, min_obs: int) -> str | None:
    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return "all returns are missing (all-NaN series); check the fund's return file"
    first, last = np.flatnonzero(finite)[[0, -1]]
    inside = ~finite[first:last + 1]
    if inside.any():
        gap_at = series.index[first + int(np.flatnonzero(inside)[0])]
        return (f"{int(inside.sum())} missing weekly return(s) inside the history, first at "
                f"{pd.Timestamp(gap_at).date()}; fill or split the series (gaps break rolling windows)")
    n = last - first + 1
    if n < min_obs:
        return f"too short a history: {n} weekly returns, at least {min_obs} needed"
    span = values[first:last + 1]
    if np.nanmax(span) == np.nanmin(span):
        return "constant return series (zero volatility); a volatility model cannot be fitted"
    return None
