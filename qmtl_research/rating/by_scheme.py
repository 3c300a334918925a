"""Grades per fund and settlement under every configured grading scheme, side by side.

For each fund, each of its settlement dates (:func:`~qmtl_research.rating.labels.settlement_dates`)
and each scheme (:mod:`qmtl_research.grades`):

* **weekly measures** use the scheme's ``window_weeks`` weekly returns whose week ends on or
  before the settlement (all observed, else excluded with the reason of
  :func:`~qmtl_research.rating.labels.window_gap_reason`);
* **daily measures** use the daily returns dated in ``(settlement - window_years, settlement]``
  (``panel.daily``). The window is complete when the fund's daily history starts within 7
  days after the window start and reaches within 7 days of the settlement (holidays and
  weekends); a shorter history is graded when the scheme allows it (``min_history_years``,
  e.g. PRIIPs' 2 years, noted ``short history``), else excluded with the reason. A weekly
  universe has no daily series: every daily scheme lists its settlements as excluded
  (``frequency: daily`` gives them).

:func:`grades_side_by_side` puts the schemes of one fund-settlement in one row (grade and
measure value per scheme) with a one-line ``reason`` wherever a scheme's grade differs from the
grade its own bands give to the **named scheme's** measure value (so the difference comes from
the measure, not from the band edges): the window length, the sampling (daily std vs weekly
std, both annualised), fat tails (skewness and excess kurtosis of the daily log returns behind a
PRIIPs VEV) or a short history. Only measures in annualised-volatility percent (weekly std,
daily std, VEV) are compared this way; a VaR scheme's grade stands without a reason.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.grades import (GradingScheme, annualised_std_pct, daily_var_pct, priips_vev_pct)
from qmtl_research.rating.settlements import settlement_dates, week_position, window_gap_reason

GRADE_COLUMNS = ["fund_id", "settlement_date", "scheme", "measure", "value_pct", "grade", "window_start",
                 "window_end", "n_returns", "note"]
EXCLUSION_COLUMNS = ["fund_id", "settlement_date", "scheme", "reason"]
#: slack (calendar days) between a daily window's edge and the first/last observation (weekends, holidays)
EDGE_DAYS = 7
VOL_MEASURES = ("weekly_std", "daily_std", "priips_vev")


def _daily_window(panel: FundPanel, fund: str, s: pd.Timestamp, scheme: GradingScheme
                  ) -> tuple[pd.Series | None, str, str | None]:
    """(daily returns of the window, note, exclusion reason)."""
    m = scheme.measure
    series = panel.daily_of(fund)
    if series is None:
        return None, "", ("no daily returns: the universe is weekly (set frequency: daily in the strategy's universe "
                          "to grade by daily measures)")
    start = s - pd.DateOffset(years=int(m.window_years)) - pd.Timedelta(days=round((m.window_years % 1) * 365.25))
    if series.empty:
        return None, "", "the fund has no daily return"
    first, last = series.index[0], series.index[-1]
    if last < s - pd.Timedelta(days=EDGE_DAYS):
        return None, "", (f"the fund's last daily return is dated {last.date()}, before the settlement {s.date()} "
                          f"(fund ended or data end)")
    w = series[(series.index > start) & (series.index <= s)]
    need = m.min_history_years or m.window_years
    if first <= start + pd.Timedelta(days=EDGE_DAYS):
        return w, "", None
    years = (s - first).days / 365.25
    if years + EDGE_DAYS / 365.25 >= need:
        return w, f"short history: {years:.1f} of {m.window_years:g} years (minimum {need:g})", None
    return None, "", (f"the fund's daily history starts {first.date()}: {years:.1f} years before the settlement, "
                      f"{need:g} needed")


def measure_value(scheme: GradingScheme, returns) -> float:
    """The scheme's measure (percent) of one window of returns (weekly or daily as the measure says).

    Parameters
    ----------
    scheme : GradingScheme
        The scheme (its measure, periodicity and annualisation).
    returns : array-like of float
        The window's simple returns (fractions), weekly or daily as the measure says.

    Returns
    -------
    float
        The measure in percent (e.g. annualised std x 100).
    """
    m = scheme.measure
    r = np.asarray(returns, dtype=float)
    if m.kind == "weekly_std":
        return annualised_std_pct(r, m.periods_per_year)
    if m.kind == "daily_std":
        return annualised_std_pct(r, m.periods_per_year)
    if m.kind == "daily_var":
        return daily_var_pct(r, m.confidence, m.convention, m.annualise, m.periods_per_year)
    return priips_vev_pct(r, m.holding_period_years, m.periods_per_year)


def window_of(panel: FundPanel, fund: str, when: pd.Timestamp, scheme: GradingScheme, col: np.ndarray | None = None):
    """The scheme's window of ``fund`` ending at ``when``: ``(returns, start, end, note, reason)``;
    ``reason`` is None when the window can be graded.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    fund : str
        Fund id.
    when : pandas.Timestamp
        Last day of the window (a settlement date).
    scheme : GradingScheme
        The scheme whose window length and periodicity apply.
    col : numpy.ndarray, optional
        The fund's weekly return column (looked up in ``panel`` when None).

    Returns
    -------
    tuple
        ``(returns, start, end, note, reason)``: the returns (fractions), the window's first and
        last dates, a note on the data used, and why it cannot be graded (None when it can).
    """
    m = scheme.measure
    if m.kind == "weekly_std":
        dates = panel.dates
        col = panel.returns[fund].to_numpy(dtype=float) if col is None else col
        p = week_position(dates, when)
        reason = window_gap_reason(dates, col, p, m.window_weeks, when)
        if reason is not None:
            return None, None, None, "", reason
        return col[p - m.window_weeks + 1:p + 1], dates[p - m.window_weeks + 1], dates[p], "", None
    w, note, reason = _daily_window(panel, fund, when, scheme)
    if reason is not None:
        return None, None, None, "", reason
    return w.to_numpy(dtype=float), w.index[0], w.index[-1], note, None


def value_at(panel: FundPanel, fund: str, when: pd.Timestamp, scheme: GradingScheme) -> float:
    """The scheme's measure (percent) of ``fund`` on the window ending at ``when``; NaN when the window
    cannot be graded (e.g. today's grade of a fund under the scheme, for persistence).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    fund : str
        Fund id.
    when : pandas.Timestamp
        Last day of the window.
    scheme : GradingScheme
        The scheme.

    Returns
    -------
    float
        The measure in percent; NaN when the window cannot be graded.
    """
    w, _, _, _, reason = window_of(panel, fund, when, scheme)
    return float("nan") if reason is not None else measure_value(scheme, w)


def scheme_grades(panel: FundPanel, schemes: dict[str, GradingScheme]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grades of every fund-settlement under every scheme.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    schemes : dict of str to GradingScheme
        The schemes by id.

    Returns
    -------
    grades : DataFrame ``GRADE_COLUMNS`` (one row per fund, settlement and scheme graded;
        ``value_pct`` the measure in percent, ``n_returns`` the returns in the window).
    exclusions : DataFrame ``fund_id, settlement_date, scheme, reason``.
    """
    rets = panel.returns.to_numpy(dtype=float)
    rows, excl = [], []
    for j, fund in enumerate(panel.fund_ids):
        col = rets[:, j]
        for s in settlement_dates(panel, fund):
            for sid, scheme in schemes.items():
                m = scheme.measure
                w, start, end, note, reason = window_of(panel, fund, s, scheme, col)
                if reason is not None:
                    excl.append((fund, s, sid, reason))
                    continue
                value = measure_value(scheme, w)
                if not np.isfinite(value):
                    excl.append((fund, s, sid, f"the measure is undefined on this window ({m.kind})"))
                    continue
                rows.append((fund, s, sid, m.kind, value, scheme.grade_of(value), start, end, len(w), note))
    grades = pd.DataFrame(rows, columns=GRADE_COLUMNS)
    grades["grade"] = grades["grade"].astype(int)
    return grades, pd.DataFrame(excl, columns=EXCLUSION_COLUMNS)


def _moments(panel: FundPanel, fund: str, start, end) -> tuple[float, float, float]:
    """(skew, excess kurtosis, annualised daily std x sqrt(252)) of the daily log returns in [start, end]."""
    from scipy import stats

    d = panel.daily_of(fund)
    if d is None:
        return float("nan"), float("nan"), float("nan")
    x = np.log1p(d[(d.index >= start) & (d.index <= end)].to_numpy(dtype=float))
    if len(x) < 3 or np.std(x) == 0:
        return float("nan"), float("nan"), float("nan")
    return (float(stats.skew(x, bias=True)), float(stats.kurtosis(x, bias=True)),
            float(np.std(np.expm1(x), ddof=1) * np.sqrt(252) * 100))


def _window_text(scheme: GradingScheme) -> str:
    m = scheme.measure
    return f"{m.window_weeks} weeks" if m.kind == "weekly_std" else f"{m.window_years:g} years"


def difference_reason(panel: FundPanel, row: pd.Series, named: GradingScheme, other: GradingScheme,
                      named_value: float, weekly_std_same_window: float | None) -> str:
    """One line on why ``other``'s measure puts the fund in another grade than the named scheme's
    measure would under ``other``'s bands.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    row : pandas.Series
        The fund-settlement (``fund_id``, ``settlement_date``).
    named : GradingScheme
        The scheme in force.
    other : GradingScheme
        The scheme whose grade differs.
    named_value : float
        The named scheme's measure for this fund-settlement, percent.
    weekly_std_same_window : float or None
        The annualised weekly std (percent) over ``other``'s window, when it differs from the named
        scheme's measure only by the window.

    Returns
    -------
    str
        One line naming the measure, window or periodicity that makes the difference.
    """
    parts = []
    if row["note"]:
        parts.append(row["note"])
    if _window_text(named) != _window_text(other):
        parts.append(f"window {_window_text(other)} vs {_window_text(named)}")
    kind = other.measure.kind
    if kind in ("daily_std", "priips_vev") and named.measure.kind == "weekly_std" and weekly_std_same_window:
        _, _, dstd = _moments(panel, row["fund_id"], row["window_start"], row["window_end"])
        if np.isfinite(dstd):
            parts.append(f"sampling: daily std x sqrt(252) {dstd:.2f}% vs weekly std x sqrt(52) "
                         f"{weekly_std_same_window:.2f}% over the same days")
    if kind == "priips_vev":
        sk, ek, dstd = _moments(panel, row["fund_id"], row["window_start"], row["window_end"])
        if np.isfinite(sk):
            parts.append(f"tails: skew {sk:+.2f}, excess kurtosis {ek:.1f} of the daily log returns "
                         f"(Cornish-Fisher VEV {row['value_pct']:.2f}% vs daily std {dstd:.2f}%)")
    parts.append(f"{other.scheme_id} measure {row['value_pct']:.2f}% vs {named.scheme_id} {named_value:.2f}%")
    return "; ".join(parts)


def grades_side_by_side(panel: FundPanel, grades: pd.DataFrame, schemes: dict[str, GradingScheme],
                        named: str) -> pd.DataFrame:
    """One row per fund-settlement graded by any scheme: ``grade[<id>]`` and ``value[<id>]`` for
    every scheme (NaN where it could not grade, see the exclusions) and ``reason``: one line per other
    scheme whose grade differs from its bands applied to the named scheme's value (see the module doc).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    grades : pandas.DataFrame
        :func:`scheme_grades`' grades (one row per fund, settlement and scheme).
    schemes : dict of str to GradingScheme
        The schemes by id.
    named : str
        Id of the scheme in force.

    Returns
    -------
    pandas.DataFrame
        ``fund_id``, ``settlement_date``, ``grade[<id>]``, ``value[<id>]`` (percent), ``reason``.
    """
    if grades.empty:
        return pd.DataFrame(columns=["fund_id", "settlement_date", "reason"])
    wide_g = grades.pivot_table(index=["fund_id", "settlement_date"], columns="scheme", values="grade", aggfunc="first")
    wide_v = grades.pivot_table(index=["fund_id", "settlement_date"], columns="scheme", values="value_pct",
                                aggfunc="first")
    order = [s for s in schemes if s in wide_g.columns]
    out = pd.concat({**{f"grade[{s}]": wide_g[s] for s in order}, **{f"value[{s}]": wide_v[s] for s in order}},
                    axis=1)
    if named not in wide_g.columns:
        out["reason"] = ""
        return out.reset_index()
    rows = grades.set_index(["fund_id", "settlement_date", "scheme"]).sort_index()
    reasons = []
    for key, r in out.iterrows():
        named_value = r[f"value[{named}]"]
        lines = []
        for sid in order:
            other = schemes[sid]
            if sid == named or other.measure.kind not in VOL_MEASURES or schemes[named].measure.kind not in VOL_MEASURES:
                continue
            if np.isnan(r[f"grade[{sid}]"]) or np.isnan(named_value):
                continue
            if int(r[f"grade[{sid}]"]) == other.grade_of(named_value):
                continue
            row = rows.loc[(*key, sid)].copy()
            row["fund_id"] = key[0]
            same = None
            if other.measure.kind != "weekly_std":
                col = panel.returns[key[0]]
                wk = col[(col.index >= row["window_start"]) & (col.index <= row["window_end"] + pd.Timedelta(days=6))].dropna()
                same = annualised_std_pct(wk.to_numpy()) if len(wk) > 2 else None
            lines.append(f"{sid} class {int(r[f'grade[{sid}]'])}, not {other.grade_of(named_value)}: "
                         + difference_reason(panel, row, schemes[named], other, named_value, same))
        reasons.append(" | ".join(lines))
    out["reason"] = reasons
    return out.reset_index()


def latest_side_by_side(side: pd.DataFrame) -> pd.DataFrame:
    """Each fund's latest settlement of :func:`grades_side_by_side` (the grades in force now).

    Parameters
    ----------
    side : pandas.DataFrame
        The output of :func:`grades_side_by_side`.

    Returns
    -------
    pandas.DataFrame
        One row per fund: the row of its latest ``settlement_date``.
    """
    if side.empty:
        return side
    return (side.sort_values(["fund_id", "settlement_date"]).groupby("fund_id", sort=True).tail(1)
            .reset_index(drop=True))


def schemes_table(schemes: dict[str, GradingScheme], named: str) -> pd.DataFrame:
    """One row per scheme: id, in force (the named one), measure, bands (intervals by grade), grades,
    direction, source, effective date.

    Parameters
    ----------
    schemes : dict of str to GradingScheme
        The schemes by id.
    named : str
        Id of the scheme in force.

    Returns
    -------
    pandas.DataFrame
        One row per scheme; bands as text intervals in percent.
    """
    rows = []
    for sid, sc in schemes.items():
        bands = "; ".join(f"{g}: {iv}" for g, _, iv in sc.bands_table())
        rows.append((sid, sid == named, sc.measure.describe(), bands,
                     f"{sc.n_grades} (grade 1 = {sc.bands.grade_1})", sc.source, str(sc.effective_date)))
    return pd.DataFrame(rows, columns=["scheme", "in_force", "measure", "bands", "grades", "source", "effective_date"])
