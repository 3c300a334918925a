"""Grade labels: the regulatory grade of each fund at each annual settlement date.

For a fund with settlement month/day (m, d) the settlement date of year Y is
``Y-m-d`` (day clipped to the month's length). Its grading window is the 156
weekly returns whose week ends on or before the settlement date (the last one
is the week-end on or before it). The label is the grade (Table 1) of the
annualised std (``ddof=1``, x sqrt(52), percent) of those returns.

The settlements considered are those from the panel's first week to the last day whose
week-end on or before it is the panel's last week (``last week + 6 days``): a settlement on
Saturday 31 December after data ending on Friday 30 December has its whole window observed
and is graded. Settlements whose window is not fully observed get no label; they are listed in
the exclusion frame with the true reason (the data start too late, the fund's history starts
inside the window, the fund's last return is before the settlement, missing weeks) instead of
vanishing silently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.grades import GradeTable
from qmtl_research.rating.measures import annualised_std_pct
from qmtl_research.rating.settlements import (next_settlement, observed_span, settlement_date,  # noqa: F401
                                              settlement_dates, week_position, window_gap_reason)

WINDOW_WEEKS = 156

LABEL_COLUMNS = ["fund_id", "fund_type", "settlement_date", "settlement_year", "week_end",
                 "std_pct", "grade", "disclosed_grade"]
EXCLUSION_COLUMNS = ["fund_id", "settlement_date", "reason"]


def make_labels(panel: FundPanel, grade_table: GradeTable, window: int = WINDOW_WEEKS
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grade labels for every fund and settlement date with ``window`` weeks of history.

    ``grade_table`` is a grading scheme (:mod:`qmtl_research.grades`); when its measure is not
    the ``window``-week std (e.g. ``ucits-srri``'s 260 weeks, ``priips-mrm``'s daily VEV) the labels
    are its grades at each settlement (:mod:`qmtl_research.rating.by_scheme`) and ``std_pct`` holds
    its measure.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    grade_table : GradeTable
        The grading scheme.
    window : int, default 156
        Weeks of the grading window.

    Returns
    -------
    labels : DataFrame with columns ``LABEL_COLUMNS`` (``week_end`` = last week of the
        grading window, ``std_pct`` = annualised std in percent, ``grade`` int,
        ``disclosed_grade`` the fund's disclosed grade from the metadata, nullable).
    exclusions : DataFrame ``fund_id, settlement_date, reason`` for settlements without
        a full window.
    """
    m = grade_table.measure
    if m.kind != "weekly_std" or m.window_weeks != window:
        return _scheme_labels(panel, grade_table)
    rets = panel.returns.to_numpy(dtype=float)
    dates = panel.dates
    rows, excl = [], []
    for j, fund in enumerate(panel.fund_ids):
        col = rets[:, j]
        for s in settlement_dates(panel, fund):
            p = week_position(dates, s)
            reason = window_gap_reason(dates, col, p, window, s)
            if reason is not None:
                excl.append((fund, s, reason))
                continue
            std = annualised_std_pct(col[p - window + 1:p + 1])
            rows.append((fund, s, p, std))
    exclusions = pd.DataFrame(excl, columns=EXCLUSION_COLUMNS)
    if not rows:
        return pd.DataFrame(columns=LABEL_COLUMNS), exclusions
    meta = panel.metadata
    labels = pd.DataFrame(rows, columns=["fund_id", "settlement_date", "_pos", "std_pct"])
    labels["week_end"] = dates[labels["_pos"].to_numpy(dtype=int)]
    labels["grade"] = grade_table.grade_of(labels["std_pct"].to_numpy()).astype(int)
    labels["settlement_year"] = labels["settlement_date"].dt.year
    labels["fund_type"] = meta.loc[labels["fund_id"], "fund_type"].to_numpy()
    disclosed = (meta.loc[labels["fund_id"], "disclosed_grade"].to_numpy()
                 if "disclosed_grade" in meta.columns else [pd.NA] * len(labels))
    labels["disclosed_grade"] = pd.array(disclosed, dtype="Int64")
    labels = labels.drop(columns="_pos")[LABEL_COLUMNS].reset_index(drop=True)
    return labels, exclusions


def _scheme_labels(panel: FundPanel, scheme: GradeTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels of a scheme whose measure is not the ``window``-week std (another window, a daily
    measure): its grade at each settlement; ``std_pct`` holds the scheme's measure value and
    ``week_end`` the week-end on or before the settlement."""
    from qmtl_research.rating.by_scheme import scheme_grades

    grades, excl = scheme_grades(panel, {scheme.scheme_id: scheme})
    exclusions = excl[EXCLUSION_COLUMNS].reset_index(drop=True)
    if grades.empty:
        return pd.DataFrame(columns=LABEL_COLUMNS), exclusions
    meta = panel.metadata
    pos = [week_position(panel.dates, s) for s in grades["settlement_date"]]
    labels = pd.DataFrame({"fund_id": grades["fund_id"].to_numpy(), "settlement_date": grades["settlement_date"].to_numpy(),
                           "std_pct": grades["value_pct"].to_numpy(), "grade": grades["grade"].to_numpy(dtype=int)})
    labels["week_end"] = panel.dates[pos]
    labels["settlement_year"] = labels["settlement_date"].dt.year
    labels["fund_type"] = meta.loc[labels["fund_id"], "fund_type"].to_numpy()
    disclosed = (meta.loc[labels["fund_id"], "disclosed_grade"].to_numpy()
                 if "disclosed_grade" in meta.columns else [pd.NA] * len(labels))
    labels["disclosed_grade"] = pd.array(disclosed, dtype="Int64")
    return labels[LABEL_COLUMNS].reset_index(drop=True), exclusions


def compare_disclosed(labels: pd.DataFrame) -> pd.DataFrame:
    """Compare each fund's disclosed grade with its computed grade at its latest settlement.

    Returns one row per fund with a disclosed grade: ``fund_id, settlement_date,
    computed_grade, disclosed_grade, difference`` (computed - disclosed; positive =
    the computed grade is safer than the disclosed one).

    Parameters
    ----------
    labels : pandas.DataFrame
        :func:`make_labels`' labels.
    """
    have = labels.dropna(subset=["disclosed_grade"])
    if have.empty:
        return pd.DataFrame(columns=["fund_id", "settlement_date", "computed_grade",
                                     "disclosed_grade", "difference"])
    latest = have.sort_values("settlement_date").groupby("fund_id", sort=True).tail(1)
    out = pd.DataFrame({"fund_id": latest["fund_id"].to_numpy(),
                        "settlement_date": latest["settlement_date"].to_numpy(),
                        "computed_grade": latest["grade"].to_numpy(dtype=int),
                        "disclosed_grade": latest["disclosed_grade"].to_numpy(dtype=int)})
    out["difference"] = out["computed_grade"] - out["disclosed_grade"]
    return out.sort_values("fund_id").reset_index(drop=True)


def disclosed_labels(labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels with the grade **disclosed in the prospectus** (the paper's actual target) instead of
    the computed Table-1 grade.

    The funds file gives one disclosed grade per fund: the grade in force after the fund's latest
    settlement in the data. So each fund contributes its latest settlement, labelled with its
    disclosed grade; its other settlements and the funds that disclose none are listed as
    exclusions. Returns ``(labels, exclusions)`` in the shapes of :func:`make_labels`.

    Parameters
    ----------
    labels : pandas.DataFrame
        :func:`make_labels`' labels.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Labels and exclusions.
    """
    have = labels.dropna(subset=["disclosed_grade"])
    latest = have.sort_values("settlement_date").groupby("fund_id", sort=False).tail(1)
    out = latest.assign(grade=latest["disclosed_grade"].astype(int)).sort_values(["settlement_date", "fund_id"])
    rest = labels.drop(index=latest.index)
    reasons = np.where(rest["disclosed_grade"].isna(), "label=disclosed: the fund discloses no grade",
                       "label=disclosed: only the latest settlement has a disclosed grade (one per fund)")
    excl = pd.DataFrame({"fund_id": rest["fund_id"].to_numpy(), "settlement_date": rest["settlement_date"].to_numpy(),
                         "reason": reasons}, columns=EXCLUSION_COLUMNS)
    return out.reset_index(drop=True), excl
