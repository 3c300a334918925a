"""Daily prices or returns -> weekly simple returns, weeks ending on Friday.

Convention (W-FRI), used everywhere in the project:

* A week runs from Saturday to Friday and is **labelled with its Friday**, even
  when the last observation falls earlier (a Friday holiday: the Thursday close
  stands for the week). Saturday and Sunday observations belong to the week
  ending the next Friday.
* **Prices** (or NAVs): the week's price is its **last available observation**;
  the weekly return is ``P_w / P_{w-1} - 1``. The first week of a series has no
  return (there is no previous week-end price). A week without any observation
  inside a series' history keeps the previous week's price (return 0).
* **Daily simple returns** are **compounded** within the week:
  ``R_w = prod(1 + r_d) - 1``. A week without observations inside the history
  has return 0. NaN daily returns inside a series' history are an error (the
  loss or gain of that day is unknown), unlike NaN prices (no quote that day).
* Before a series' first and after its last observation the weekly values are NaN.

Results are fractions (0.01 = +1 %), index ``date`` (Fridays), same columns.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError

WEEK_RULE = "W-FRI"


def _check_input(data, what: str):
    if not isinstance(data, (pd.Series, pd.DataFrame)):
        raise InputError(f"{what} must be a pandas Series or DataFrame, got {type(data).__name__}",
                         where="qmtl_research.data.resample", fix="pass a frame indexed by dates")
    if not isinstance(data.index, pd.DatetimeIndex):
        raise InputError(f"{what} are not indexed by dates ({type(data.index).__name__})",
                         where=f"{what} index", fix="set a DatetimeIndex, e.g. df.set_index(pd.to_datetime(df['date']))")
    if data.index.tz is not None:
        data = data.tz_localize(None)
    if data.index.has_duplicates:
        dup = data.index[data.index.duplicated()][0]
        raise InputError(f"duplicate date {dup.date()} in {what}", where=f"{what} index",
                         fix="keep one observation per day")
    if not data.index.is_monotonic_increasing:
        raise InputError(f"{what} dates are not increasing", where=f"{what} index", fix="sort by date (sort_index())")
    values = data.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise InputError(f"infinite value in {what}", where=f"{what}", fix="replace it with the real value")
    return data


def _where_first(mask: pd.DataFrame | pd.Series) -> str:
    frame = mask.to_frame() if isinstance(mask, pd.Series) else mask
    t, j = np.argwhere(frame.to_numpy())[0]
    return f"column {frame.columns[j]}, date {frame.index[t].date()}"


def _span(data: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """True between a column's first and last observation (inclusive)."""
    obs = data.notna()
    return obs.cummax() & obs[::-1].cummax()[::-1]


def weekly_returns_from_prices(prices: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Weekly simple returns from daily prices (last available price of each W-FRI week).

    Parameters
    ----------
    prices : DataFrame or Series
        Prices or NAVs (> 0), DatetimeIndex of days; NaN = no quote that day.

    Returns
    -------
    DataFrame or Series
        ``P_w / P_{w-1} - 1`` per Friday-labelled week; NaN for each series' first
        week and outside its history.
    """
    prices = _check_input(prices, "prices")
    bad = prices <= 0
    if bad.to_numpy().any():
        raise InputError("prices must be positive", where=f"prices, {_where_first(bad)}",
                         fix="check the price series (a NAV or close is > 0)")
    weekly = prices.resample(WEEK_RULE).last().ffill(limit_area="inside")
    out = weekly.pct_change(fill_method=None)
    out.index.name = "date"
    return out


def weekly_returns_from_daily_returns(returns: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Weekly simple returns by compounding daily simple returns within W-FRI weeks.

    Parameters
    ----------
    returns : DataFrame or Series
        Daily simple returns as fractions (> -1), DatetimeIndex of days. NaN only
        before the first or after the last observation of a column.

    Returns
    -------
    DataFrame or Series
        ``prod(1 + r_d) - 1`` per Friday-labelled week; 0 for an empty week inside
        a history; NaN outside it.
    """
    returns = _check_input(returns, "daily returns")
    inside_nan = returns.isna() & _span(returns)
    if inside_nan.to_numpy().any():
        raise InputError("NaN daily return inside a series' history", where=f"daily returns, {_where_first(inside_nan)}",
                         fix="fill the day's real return, or give prices instead (weekly_returns_from_prices)")
    low = returns <= -1
    if low.to_numpy().any():
        raise InputError("daily return of -100 % or less", where=f"daily returns, {_where_first(low)}",
                         fix="returns are fractions (0.01 = +1 %); divide percent by 100")
    growth = (1.0 + returns).resample(WEEK_RULE).prod(min_count=1)
    weekly = growth - 1.0
    inside = _span(weekly)
    weekly = weekly.mask(inside & weekly.isna(), 0.0)
    weekly.index.name = "date"
    return weekly


def to_weekly(data: pd.DataFrame | pd.Series, kind: Literal["price", "return"] = "price"):
    """Weekly (W-FRI) simple returns from daily ``kind`` = "price" or "return" data."""
    if kind == "price":
        return weekly_returns_from_prices(data)
    if kind == "return":
        return weekly_returns_from_daily_returns(data)
    raise InputError(f"unknown kind {kind!r}", where="to_weekly(kind=...)", fix="use 'price' or 'return'")
