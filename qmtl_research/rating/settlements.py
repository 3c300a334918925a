"""Settlement calendar of the grade labels: each fund's annual settlement dates, the week-end
position of a date, and why a grading window is not fully observed.

Its own module so that :mod:`qmtl_research.rating.labels` and
:mod:`qmtl_research.rating.by_scheme` (each of which uses the other's work) both import it,
instead of importing each other.
"""
from __future__ import annotations

import calendar

import numpy as np
import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError


def settlement_date(year: int, month: int, day: int) -> pd.Timestamp:
    """Settlement date of ``year`` for a fund settling on month/day (day clipped to month end).

    Parameters
    ----------
    year, month, day : int
        The settlement year and the fund's settlement month and day.

    Returns
    -------
    pandas.Timestamp
    """
    last = calendar.monthrange(year, month)[1]
    return pd.Timestamp(year=year, month=month, day=min(day, last))


def _settlement_of(panel: FundPanel, fund_id: str) -> tuple[int, int]:
    meta = panel.metadata
    try:
        m, d = meta.at[fund_id, "settlement_month"], meta.at[fund_id, "settlement_day"]
    except KeyError:
        raise InputError(f"fund {fund_id} has no metadata row", where=f"FundPanel.metadata[{fund_id}]",
                         fix="add the fund to the metadata (settlement_month/settlement_day)") from None
    if pd.isna(m) or pd.isna(d) or not (1 <= int(m) <= 12) or not (1 <= int(d) <= 31):
        raise InputError(f"fund {fund_id} has an invalid settlement date month={m} day={d}",
                         where=f"FundPanel.metadata[{fund_id}].settlement_month/day",
                         fix="set settlement_month in 1..12 and settlement_day in 1..31")
    return int(m), int(d)


def settlement_dates(panel: FundPanel, fund_id: str) -> list[pd.Timestamp]:
    """The fund's settlement dates from the panel's first week to its last week + 6 days (a
    settlement after the last week-end but before the next one has its window in the data).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    fund_id : str
        Fund id.

    Returns
    -------
    list of pandas.Timestamp
    """
    m, d = _settlement_of(panel, fund_id)
    first, last = panel.dates[0], panel.dates[-1] + pd.Timedelta(days=6)
    out = [settlement_date(y, m, d) for y in range(first.year, last.year + 1)]
    return [s for s in out if first <= s <= last]


def observed_span(col: np.ndarray) -> tuple[int, int]:
    """Positions of the first and last finite value of a weekly column ((-1, -1) if none).

    Parameters
    ----------
    col : numpy.ndarray
        Weekly returns of one fund (NaN = not observed).

    Returns
    -------
    (int, int)
    """
    ok = np.flatnonzero(np.isfinite(col))
    return (int(ok[0]), int(ok[-1])) if len(ok) else (-1, -1)


def window_gap_reason(dates: pd.DatetimeIndex, col: np.ndarray, p: int, window: int,
                      settlement: pd.Timestamp) -> str | None:
    """Why the ``window`` weeks ending at position ``p`` are not all observed (None if they are):
    the data start, the fund's first return, its last return, or missing weeks inside.

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        The panel's weeks.
    col : numpy.ndarray
        The fund's weekly returns.
    p : int
        Position of the window's last week.
    window : int
        Weeks of the window.
    settlement : pandas.Timestamp
        The settlement graded (named in the reason).

    Returns
    -------
    str or None
    """
    if p + 1 < window:
        return (f"the data start {dates[0].date()}: only {p + 1} weeks before the settlement date, "
                f"{window} needed")
    w = col[p - window + 1:p + 1]
    n_obs = int(np.isfinite(w).sum())
    if n_obs == window:
        return None
    first, last = observed_span(col)
    if first < 0:
        return "the fund has no return at all"
    if last < p:
        return (f"the fund's last return is dated {dates[last].date()}, {p - last} week(s) before the settlement "
                f"{settlement.date()} (fund ended): {n_obs} of the {window} weeks observed")
    if first > p - window + 1:
        return (f"the fund's first return is dated {dates[first].date()}: only {n_obs} of the {window} weeks "
                f"before the settlement date are observed (fund younger than {window} weeks)")
    return f"{window - n_obs} of the {window} weeks before the settlement date are missing"


def next_settlement(panel: FundPanel, fund_id: str, as_of: pd.Timestamp) -> pd.Timestamp:
    """First settlement date strictly after ``as_of``.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    fund_id : str
        Fund id.
    as_of : pandas.Timestamp
        The date after which to look.

    Returns
    -------
    pandas.Timestamp
    """
    m, d = _settlement_of(panel, fund_id)
    s = settlement_date(as_of.year, m, d)
    return s if s > as_of else settlement_date(as_of.year + 1, m, d)


def week_position(dates: pd.DatetimeIndex, when: pd.Timestamp) -> int:
    """Position of the last week-end on or before ``when`` (-1 if none).

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        The panel's weeks (sorted).
    when : pandas.Timestamp
        Any date.

    Returns
    -------
    int
    """
    return int(dates.searchsorted(when, side="right")) - 1
