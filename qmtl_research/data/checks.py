"""Checks of user data at the edge (schema, dates, values): every problem is an :class:`InputError`
saying what is wrong, where (file, line, field, fund id) and what to do.

Two levels:

* file level (used by :mod:`qmtl_research.data.loaders`): ``parse_*`` and
  ``check_*`` functions on a long-form table read from a CSV or Parquet file,
  where a row keeps its position so errors can name the line
  (CSV: line 1 is the header, the first data row is line 2; Parquet: rows are
  counted from 1);
* panel level: :func:`validate_panel` for a :class:`FundPanel` built in memory.

The file schema itself is documented in ``data/README.md``.

Over 400 lines because every check of user data at the edge lives here, so that every message has
one what/where/fix form.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qmtl_research.data.panel import METADATA_COLUMNS, FundPanel
from qmtl_research.errors import InputError

FRIDAY = 4
WEEK = pd.Timedelta(days=7)
MAX_GRADE = 6
_SHOWN = 5  # how many offending items an error lists


@dataclass(frozen=True)
class SourceFile:
    """A data file and how to name a row of it in an error message."""

    path: Path

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() not in (".parquet", ".pq")

    def position(self, row: int) -> str:
        """``line 12`` (CSV, header = line 1) or ``row 11`` (Parquet); ``row`` is 0-based."""
        return f"line {int(row) + 2}" if self.is_csv else f"row {int(row) + 1}"

    def at(self, row: int | None = None, field: str | None = None, fund: str | None = None,
           key: str = "fund") -> str:
        """``returns.csv, line 12, field 'return', fund F001`` (``row`` = 0-based data row)."""
        parts = [str(self.path)]
        if row is not None:
            parts.append(self.position(row))
        if field is not None:
            parts.append(f"field '{field}'")
        if fund is not None:
            parts.append(f"{key} {fund}")
        return ", ".join(parts)


def first_true(mask) -> int:
    """Position of the first True."""
    return int(np.flatnonzero(np.asarray(mask))[0])


def shorten(values) -> str:
    """The first few values, comma separated, with how many more."""
    values = list(values)
    more = f" (and {len(values) - _SHOWN} more)" if len(values) > _SHOWN else ""
    return ", ".join(map(str, values[:_SHOWN])) + more


# ------------------------------------------------------------------ file level
def check_columns(df: pd.DataFrame, required, src: SourceFile, what: str, fix: str) -> None:
    """Every ``required`` column is present (headers are compared stripped, lower-case)."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{what} is missing column(s) {', '.join(repr(c) for c in missing)}; "
                         f"found {', '.join(repr(str(c)) for c in df.columns) or 'no columns'}",
                         where=f"{src.path}, header" + (" (line 1)" if src.is_csv else ""), fix=fix)


def check_not_empty(df: pd.DataFrame, src: SourceFile, what: str) -> None:
    if df.empty:
        raise InputError(f"{what} has no data rows", where=str(src.path),
                         fix="add rows below the header (see data/README.md)")


def check_keys(df: pd.DataFrame, key: str, src: SourceFile) -> pd.Series:
    """Identifier column ``key``: non-empty strings, returned stripped."""
    ids = df[key].astype("str").str.strip()
    empty = ids.isna() | (ids == "") | (ids.str.lower() == "nan")
    if empty.any():
        i = first_true(empty)
        raise InputError(f"empty {key}", where=src.at(df.index[i], key),
                         fix=f"every row needs a {key}")
    return ids


#: a time of day (``10:30``) or a zone (``Z``, ``+09:00``) written after a date: these files hold dates only
_TIME_OR_ZONE = re.compile(r"\d:\d\d|\d[Tt]\d|\d[Zz]$|\d[+-]\d\d:?\d\d$")


def not_date_only(values: pd.Series) -> pd.Series:
    """True where a date value carries a time of day or a zone offset (text like
    ``2020-03-06T10:00`` / ``2020-03-06+09:00``, or a datetime column with a time or a zone):
    weekly and daily inputs are dated, and a time or a zone would shift or split a day."""
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            return values.notna()
        return values.notna() & (values != values.dt.normalize())
    text = values.astype("str").str.strip()
    return text.str.contains(_TIME_OR_ZONE, na=False)


def parse_dates(values: pd.Series, src: SourceFile, field: str, ids: pd.Series | None = None,
                key: str = "fund", required: bool = True) -> pd.Series:
    """Parse ISO dates (``YYYY-MM-DD``); Parquet date/datetime columns pass as they are.

    Returns datetime64[us]; raises on the first unparseable (or, if ``required``,
    empty) value with its line and fund, and on a value with a time of day or a zone offset
    (:func:`not_date_only`).
    """
    timed = not_date_only(values)
    if timed.any():
        i = first_true(timed)
        raise InputError(f"date {str(values.iloc[i])!r} carries a time of day or a zone offset",
                         where=src.at(values.index[i], field, None if ids is None else ids.iloc[i], key),
                         fix="write plain dates YYYY-MM-DD (the date the return belongs to), without time or zone")
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        bad = parsed.isna() if required else pd.Series(False, index=values.index)
    else:
        text = values.astype("str").str.strip()
        blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "nat", "none"])
        parsed = pd.to_datetime(text.where(~blank), format="ISO8601", errors="coerce")
        bad = (parsed.isna() & ~blank) | (blank if required else False)
    if bad.any():
        i = first_true(bad)
        raise InputError(f"unparseable date {str(values.iloc[i])!r}" if str(values.iloc[i]).strip()
                         else f"missing date in field '{field}'",
                         where=src.at(values.index[i], field, None if ids is None else ids.iloc[i], key),
                         fix="write dates as YYYY-MM-DD (ISO 8601), e.g. 2020-03-06")
    return parsed.astype("datetime64[us]")


def parse_numbers(values: pd.Series, src: SourceFile, field: str, ids: pd.Series, key: str = "fund",
                  unit_hint: str = "") -> pd.Series:
    """Parse a numeric column: non-numeric text, empty cells, NaN and inf are errors."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype(float)
        non_numeric = pd.Series(False, index=values.index)
    else:
        text = values.astype("str").str.strip()
        num = pd.to_numeric(text, errors="coerce").astype(float)
        blank = text.isna() | (text == "")
        literal_nan = text.str.lower().isin(["nan", "-nan", "+nan", "na", "n/a", "null", "none"])
        non_numeric = num.isna() & ~blank & ~literal_nan
        if non_numeric.any():
            i = first_true(non_numeric)
            raise InputError(f"non-numeric {field} {str(values.iloc[i])!r}",
                             where=src.at(values.index[i], field, ids.iloc[i], key),
                             fix=f"write {field} as a plain decimal number{unit_hint}")
    missing = num.isna()
    if missing.any():
        i = first_true(missing)
        raise InputError(f"missing (NaN) {field}", where=src.at(values.index[i], field, ids.iloc[i], key),
                         fix="leave out weeks without data before the first or after the last "
                             "observation; inside a fund's history every week needs a value")
    infinite = ~np.isfinite(num)
    if infinite.any():
        i = first_true(infinite)
        raise InputError(f"infinite {field} ({num.iloc[i]})", where=src.at(values.index[i], field, ids.iloc[i], key),
                         fix=f"replace it with the real {field}")
    return num


#: the largest simple return accepted for one period (+10,000 %): above it a value is not a return
#: (a price, a unit error, a corrupt cell such as 1e300 that would overflow every variance)
MAX_RETURN = 100.0


def check_returns_above_minus_one(ret: pd.Series, src: SourceFile, ids: pd.Series, field: str = "return",
                                  key: str = "fund") -> None:
    """A simple return <= -100 % is impossible for a fund (and usually means percent units); one
    above :data:`MAX_RETURN` is not a return either."""
    bad = ret <= -1.0
    if bad.any():
        i = first_true(bad)
        raise InputError(f"{field} {ret.iloc[i]} is a loss of 100 % or more",
                         where=src.at(ret.index[i], field, ids.iloc[i], key),
                         fix="returns are fractions (0.01 = +1 %), above -1; if the file holds "
                             "percent, divide by 100")
    huge = ret > MAX_RETURN
    if huge.any():
        i = first_true(huge)
        raise InputError(f"{field} {ret.iloc[i]:g} is a gain above {MAX_RETURN * 100:,.0f} % in one period: "
                         "not a return", where=src.at(ret.index[i], field, ids.iloc[i], key),
                         fix="returns are fractions (0.01 = +1 %); check the cell (a price, percent or a corrupt value?)")


def check_positive(values: pd.Series, src: SourceFile, ids: pd.Series, field: str = "nav",
                   key: str = "fund") -> None:
    bad = values <= 0
    if bad.any():
        i = first_true(bad)
        raise InputError(f"{field} {values.iloc[i]} is not positive", where=src.at(values.index[i], field, ids.iloc[i], key),
                         fix="a net asset value must be > 0")


def check_fridays(dates: pd.Series, src: SourceFile, ids: pd.Series, key: str = "fund") -> None:
    """Weekly data is dated on the Friday ending the week (W-FRI)."""
    bad = dates.dt.day_of_week != FRIDAY
    if bad.any():
        i = first_true(bad)
        d = dates.iloc[i]
        raise InputError(f"date {d.date()} is a {d.day_name()}; weekly returns are dated on the "
                         f"Friday ending the week", where=src.at(dates.index[i], "date", ids.iloc[i], key),
                         fix="resample daily data with qmtl_research.data.resample.to_weekly "
                             "(W-FRI: the week's last observation, labelled with its Friday)")


def check_order(dates: pd.Series, ids: pd.Series, src: SourceFile, key: str = "fund") -> None:
    """Per id: no duplicate dates and dates strictly increasing in file order."""
    frame = pd.DataFrame({"id": ids.to_numpy(), "date": dates.to_numpy()}, index=dates.index)
    dup = frame.duplicated(["id", "date"], keep=False)
    if dup.any():
        i = first_true(dup)
        fid, d = frame["id"].iloc[i], frame["date"].iloc[i]
        rows = frame.index[dup & (frame["id"] == fid) & (frame["date"] == d)]
        lines = " and ".join(src.position(r) for r in rows[:2])
        raise InputError(f"duplicate date {pd.Timestamp(d).date()} for {key} {fid} ({lines})",
                         where=src.at(rows[1], "date", fid, key),
                         fix="keep one row per fund and date")
    prev = frame.groupby("id", sort=False)["date"].shift()
    back = prev.notna() & (frame["date"] <= prev)
    if back.any():
        i = first_true(back)
        raise InputError(f"dates of {key} {frame['id'].iloc[i]} are not increasing: "
                         f"{pd.Timestamp(frame['date'].iloc[i]).date()} comes after "
                         f"{pd.Timestamp(prev.iloc[i]).date()}",
                         where=src.at(frame.index[i], "date", frame["id"].iloc[i], key),
                         fix="sort the rows of each fund by date (oldest first)")


def check_no_gaps(dates: pd.Series, ids: pd.Series, src: SourceFile, key: str = "fund") -> None:
    """Per id: consecutive Fridays from the first to the last observation."""
    frame = pd.DataFrame({"id": ids.to_numpy(), "date": dates.to_numpy()}, index=dates.index)
    step = frame.groupby("id", sort=False)["date"].diff()
    gap = step.notna() & (step != WEEK)
    if gap.any():
        i = first_true(gap)
        end = pd.Timestamp(frame["date"].iloc[i])
        start = end - step.iloc[i] + WEEK
        n = int(step.iloc[i] / WEEK) - 1
        raise InputError(f"gap in the history of {key} {frame['id'].iloc[i]}: {n} missing week(s) "
                         f"{start.date()}..{(end - WEEK).date()}",
                         where=src.at(frame.index[i], "date", frame["id"].iloc[i], key),
                         fix="supply every week between a fund's first and last observation "
                             "(a week without trading has return 0)")


#: the longest calendar gap accepted inside a daily history (long holidays such as Chuseok or the
#: Lunar New Year with a weekend stay below it)
MAX_DAILY_GAP_DAYS = 14


def check_daily_gaps(dates: pd.Series, ids: pd.Series, src: SourceFile, key: str = "fund",
                     max_days: int = MAX_DAILY_GAP_DAYS) -> None:
    """Per id: no more than ``max_days`` calendar days between consecutive daily observations."""
    frame = pd.DataFrame({"id": ids.to_numpy(), "date": dates.to_numpy()}, index=dates.index)
    step = frame.groupby("id", sort=False)["date"].diff()
    gap = step.notna() & (step > pd.Timedelta(days=max_days))
    if gap.any():
        i = first_true(gap)
        end = pd.Timestamp(frame["date"].iloc[i])
        raise InputError(f"gap in the daily history of {key} {frame['id'].iloc[i]}: no observation between "
                         f"{(end - step.iloc[i]).date()} and {end.date()} ({step.iloc[i].days} days)",
                         where=src.at(frame.index[i], "date", frame["id"].iloc[i], key),
                         fix=f"supply the missing days (at most {max_days} calendar days between two observations)")


def parse_int_in_range(values: pd.Series, src: SourceFile, field: str, ids: pd.Series, lo: int, hi: int,
                       optional: bool = False, fix: str | None = None) -> pd.Series:
    """Integers ``lo..hi`` (``optional``: empty cells become <NA>). Returns Int64."""
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype("Float64").astype(float)
        blank = num.isna()
        text = values.astype("str")
    else:
        text = values.astype("str").str.strip()
        blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "<na>", "none"])
        num = pd.to_numeric(text.where(~blank), errors="coerce").astype(float)
    if blank.any() and not optional:
        i = first_true(blank)
        raise InputError(f"missing {field}", where=src.at(values.index[i], field, ids.iloc[i]),
                         fix=fix or f"give an integer {lo}..{hi}")
    bad = ~blank & (num.isna() | (num != np.round(num)) | (num < lo) | (num > hi))
    if bad.any():
        i = first_true(bad)
        raise InputError(f"{field} {str(text.iloc[i]).strip()!r} is not an integer in {lo}..{hi}",
                         where=src.at(values.index[i], field, ids.iloc[i]), fix=fix or f"give an integer {lo}..{hi}")
    return pd.array(np.where(blank, pd.NA, num), dtype="Int64")


def check_settlement_days(month: pd.Series, day: pd.Series, src: SourceFile, ids: pd.Series) -> None:
    """The day must exist in the month (29 February allowed)."""
    last = np.array([calendar.monthrange(2024, int(m))[1] for m in month])
    bad = np.asarray(day, dtype=int) > last
    if bad.any():
        i = first_true(bad)
        raise InputError(f"settlement_day {int(day.iloc[i])} does not exist in month {int(month.iloc[i])}",
                         where=src.at(day.index[i], "settlement_day", ids.iloc[i]),
                         fix="give the calendar day of the fund's annual settlement (accounting year end)")


# ----------------------------------------------------------------- panel level
def validate_panel(panel: FundPanel, where: str = "panel") -> FundPanel:
    """Check an in-memory :class:`FundPanel` against its contract (see panel.py).

    Checks: returns index (DatetimeIndex, Fridays, unique, increasing); fund ids
    (unique, non-empty); values (numeric, finite, > -1, no NaN inside a fund's
    history, at least one observation); metadata (every fund present, the
    required columns, settlement month 1..12 and day valid for the month,
    disclosed grade 1..6 or missing, inception dates); benchmarks (same index,
    every referenced benchmark present and observed on the fund's dates).

    Returns the panel unchanged; raises :class:`InputError` on the first problem.
    """
    r, m = panel.returns, panel.metadata
    fix_sort = "build returns with qmtl_research.data.resample.to_weekly or load them with load_panel"
    if not isinstance(r.index, pd.DatetimeIndex):
        raise InputError(f"returns index is {type(r.index).__name__}, not a DatetimeIndex",
                         where=f"{where}.returns.index", fix=fix_sort)
    if r.index.has_duplicates:
        raise InputError(f"duplicate dates in returns: {shorten(r.index[r.index.duplicated()].date)}",
                         where=f"{where}.returns.index", fix="keep one row per week")
    if not r.index.is_monotonic_increasing:
        raise InputError("returns dates are not increasing", where=f"{where}.returns.index",
                         fix="sort the returns by date (returns.sort_index())")
    not_fri = r.index[r.index.day_of_week != FRIDAY]
    if len(not_fri):
        raise InputError(f"returns dates are not Fridays: {shorten(not_fri.date)}", where=f"{where}.returns.index",
                         fix=fix_sort)
    ids = pd.Index(r.columns)
    if ids.has_duplicates:
        raise InputError(f"duplicate fund ids: {shorten(ids[ids.duplicated()])}", where=f"{where}.returns.columns",
                         fix="fund ids must be unique")
    if any((not isinstance(c, str)) or not c.strip() for c in ids):
        raise InputError("fund ids must be non-empty strings", where=f"{where}.returns.columns",
                         fix="name every column with its fund id")
    non_num = [c for c in ids if not pd.api.types.is_numeric_dtype(r[c])]
    if non_num:
        raise InputError(f"non-numeric returns for fund(s) {shorten(non_num)}", where=f"{where}.returns",
                         fix="returns are float fractions")
    values = r.to_numpy(dtype=float)
    _check_values(values, r.index, ids, f"{where}.returns", "fund")
    _check_metadata(m, ids, where)
    _check_benchmarks(panel, values, where)
    return panel


def _check_values(values: np.ndarray, dates: pd.DatetimeIndex, ids, where: str, key: str) -> None:
    inf = np.isinf(values)
    if inf.any():
        t, j = np.argwhere(inf)[0]
        raise InputError("infinite return", where=f"{where}, {key} {ids[j]}, date {dates[t].date()}",
                         fix="replace it with the real return")
    low = values <= -1.0
    if low.any():
        t, j = np.argwhere(low)[0]
        raise InputError(f"return {values[t, j]} is a loss of 100 % or more",
                         where=f"{where}, {key} {ids[j]}, date {dates[t].date()}",
                         fix="returns are fractions (0.01 = +1 %), above -1")
    huge = values > MAX_RETURN
    if huge.any():
        t, j = np.argwhere(huge)[0]
        raise InputError(f"return {values[t, j]:g} is a gain above {MAX_RETURN * 100:,.0f} % in one period: "
                         "not a return", where=f"{where}, {key} {ids[j]}, date {dates[t].date()}",
                         fix="returns are fractions (0.01 = +1 %); check the value")
    obs = ~np.isnan(values)
    empty = ~obs.any(axis=0)
    if empty.any():
        raise InputError(f"{key}(s) without any observation: {shorten(np.asarray(ids)[empty])}", where=where,
                         fix=f"drop {key}s that have no data")
    # NaN strictly between the first and last observation = a gap
    seen_before = np.cumsum(obs, axis=0) > 0
    seen_after = np.cumsum(obs[::-1], axis=0)[::-1] > 0
    inside = seen_before & seen_after & ~obs
    if inside.any():
        t, j = np.argwhere(inside.T)[0][::-1]
        n = int(inside[:, j].sum())
        raise InputError(f"gap in the history of {key} {ids[j]}: {n} missing week(s), the first on "
                         f"{dates[t].date()}", where=f"{where}, {key} {ids[j]}, date {dates[t].date()}",
                         fix="NaN is allowed only before the first or after the last observation; "
                             "supply the missing weeks")


def _check_metadata(m: pd.DataFrame, ids: pd.Index, where: str) -> None:
    w = f"{where}.metadata"
    missing_cols = [c for c in METADATA_COLUMNS if c not in m.columns]
    if missing_cols:
        raise InputError(f"metadata is missing column(s) {', '.join(missing_cols)}", where=w,
                         fix=f"metadata needs {', '.join(METADATA_COLUMNS)}")
    if m.index.has_duplicates:
        raise InputError(f"duplicate fund ids in metadata: {shorten(m.index[m.index.duplicated()])}", where=w,
                         fix="one metadata row per fund")
    absent = ids.difference(m.index, sort=False)
    if len(absent):
        raise InputError(f"fund(s) in returns but not in metadata: {shorten(absent)}", where=w,
                         fix="add a metadata row for every fund")
    meta = m.loc[list(ids)]
    for field, lo, hi in (("settlement_month", 1, 12), ("settlement_day", 1, 31), ("disclosed_grade", 1, MAX_GRADE)):
        col = pd.to_numeric(meta[field], errors="coerce").astype(float)
        raw_missing = meta[field].isna()
        bad = ~raw_missing & (col.isna() | (col < lo) | (col > hi) | (col != np.round(col)))
        if field != "disclosed_grade":
            bad |= raw_missing
        if bad.any():
            fid = meta.index[first_true(bad)]
            raise InputError(f"{field} {meta.loc[fid, field]} is not an integer in {lo}..{hi}",
                             where=f"{w}, fund {fid}, field '{field}'", fix=f"give an integer {lo}..{hi}")
    day_max = np.array([calendar.monthrange(2024, int(mm))[1] for mm in meta["settlement_month"]])
    bad = meta["settlement_day"].to_numpy(dtype=int) > day_max
    if bad.any():
        fid = meta.index[first_true(bad)]
        raise InputError(f"settlement_day {meta.loc[fid, 'settlement_day']} does not exist in month "
                         f"{meta.loc[fid, 'settlement_month']}", where=f"{w}, fund {fid}, field 'settlement_day'",
                         fix="give the calendar day of the annual settlement")
    if not pd.api.types.is_datetime64_any_dtype(meta["inception_date"]):
        raise InputError("inception_date is not a datetime column", where=f"{w}, field 'inception_date'",
                         fix="convert with pd.to_datetime")


def _check_benchmarks(panel: FundPanel, values: np.ndarray, where: str) -> None:
    r, m, b = panel.returns, panel.metadata, panel.benchmarks
    w = f"{where}.benchmarks"
    if len(b.columns) and not b.index.equals(r.index):
        raise InputError("benchmarks are not on the returns' dates", where=f"{w}.index",
                         fix="reindex the benchmarks to panel.returns.index")
    names = m.loc[list(r.columns), "benchmark"]
    used = names.notna() & (names.astype("str") != "")
    unknown = names[used & ~names.isin(list(b.columns))]
    if len(unknown):
        fid, bench = unknown.index[0], unknown.iloc[0]
        raise InputError(f"fund {fid} names benchmark {bench!r}, which is not in the benchmarks",
                         where=f"{where}.metadata, fund {fid}, field 'benchmark'",
                         fix=f"add the benchmark series or leave the field empty; known: {shorten(b.columns) or 'none'}")
    if not used.any():
        return
    j_used = np.flatnonzero(used.to_numpy())
    pos = b.columns.get_indexer(names.iloc[j_used])
    bench_values = b.to_numpy(dtype=float)[:, pos]                       # (T, funds using one)
    uncovered = ~np.isnan(values[:, j_used]) & ~np.isfinite(bench_values)
    if uncovered.any():
        t, k = np.argwhere(uncovered.T)[0][::-1]
        fid, bench, d = r.columns[j_used[k]], names.iloc[j_used[k]], r.index[t].date()
        raise InputError(f"benchmark {bench!r} of fund {fid} has no value on {d}, where the fund has one",
                         where=f"{w}, benchmark {bench}, date {d}",
                         fix="the benchmark must cover every week of the funds that use it")
