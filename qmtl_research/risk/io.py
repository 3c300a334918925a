"""Reading return files for the CLI: CSV or Parquet, a date column and one or
more columns of per-period simple returns (fractions)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qmtl_research.data.checks import MAX_RETURN, not_date_only
from qmtl_research.data.loaders import read_table
from qmtl_research.errors import InputError

DATE_COLUMNS = ("date", "Date", "DATE", "datetime", "timestamp")


def read_returns(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Returns table from ``path`` (``.csv`` or ``.parquet``).

    The first column named ``date`` (or ``Date``/``datetime``/``timestamp``)
    becomes the DatetimeIndex; other columns are returns. Refused, with the
    file and line (CSV line numbers count the header as line 1): missing or
    empty file, no date column, unparsable or duplicate dates, non-numeric
    values, NaN/empty cells, unknown ``columns``, a return <= -1 or above ``MAX_RETURN``
    (percent written where fractions are meant).

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.parquet`` or ``.pq`` file.
    columns : list of str or None
        Return columns to keep; ``None`` keeps all of them.

    Returns
    -------
    pandas.DataFrame
        Dates (DatetimeIndex ``date``, sorted) x return columns; per-period simple returns as
        fractions (0.01 = +1 %), read as written (no conversion).
    """
    raw, suffix, where, line = _read(path, "returns file")
    if raw.shape[0] == 0:
        raise InputError("returns file has no rows", where=where, fix="add dated return rows")
    date_col = next((c for c in raw.columns if str(c) in DATE_COLUMNS), None)
    if date_col is None:
        raise InputError(f"no date column (looked for {', '.join(DATE_COLUMNS)})", where=where,
                         fix="name the first column 'date'")
    _refuse_times(raw[date_col], lambda i: f"{line(i)} field {date_col}")
    dates = pd.to_datetime(raw[date_col].astype(str) if suffix == ".csv" else raw[date_col], errors="coerce")
    if dates.isna().any():
        i = int(np.argmax(dates.isna().to_numpy()))
        raise InputError(f"unparsable date {raw[date_col].iloc[i]!r}", where=line(i), fix="use ISO dates YYYY-MM-DD")
    if dates.duplicated().any():
        i = int(np.argmax(dates.duplicated().to_numpy()))
        raise InputError(f"duplicate date {dates.iloc[i].date()}", where=line(i), fix="one row per date")
    value_cols = [c for c in raw.columns if c != date_col]
    if columns:
        unknown = [c for c in columns if c not in value_cols]
        if unknown:
            raise InputError(f"unknown column(s) {', '.join(unknown)}", where=where,
                             fix=f"use one of: {', '.join(map(str, value_cols))}")
        value_cols = list(columns)
    if not value_cols:
        raise InputError("no return columns next to the date column", where=where)
    out = {}
    for c in value_cols:
        col = raw[c]
        vals = pd.to_numeric(col.replace("", np.nan) if suffix == ".csv" else col, errors="coerce")
        bad = vals.isna() | ~np.isfinite(vals.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise InputError(f"column {c!r}: missing or non-numeric return {col.iloc[i]!r}", where=line(i),
                             fix="every date needs a numeric return (fractions, 0.01 = 1 %)")
        low = (vals <= -1.0).to_numpy()
        if low.any():      # the fund loader's check (data.checks.check_returns_above_minus_one)
            i = int(np.argmax(low))
            raise InputError(f"column {c!r}: return {vals.iloc[i]} is a loss of 100 % or more", where=line(i),
                             fix="returns are fractions (0.01 = +1 %), above -1; if the file holds percent, "
                                 "divide by 100")
        huge = (vals > MAX_RETURN).to_numpy()
        if huge.any():
            i = int(np.argmax(huge))
            raise InputError(f"column {c!r}: return {vals.iloc[i]:g} is a gain above {MAX_RETURN * 100:,.0f} % in "
                             "one period: not a return", where=line(i),
                             fix="returns are fractions (0.01 = +1 %); check the value")
        out[str(c)] = vals.to_numpy(dtype=float)
    frame = pd.DataFrame(out, index=pd.DatetimeIndex(dates.to_numpy(), name="date"))
    return frame.sort_index()


SERIES_COLUMNS = ("series", "fund_id", "asset", "id")


def _read(path: str | Path, what: str):
    """The file's cells through the project's one reader (:func:`qmtl_research.data.loaders.read_table`,
    headers as written), its suffix, its name, and how to name the ``i``-th row of the frame in an
    error (CSV: the file line, header = line 1, blank lines counted; Parquet: the 0-based row)."""
    raw, src = read_table(path, what, normalise_headers=False, suffixes=(".csv", ".parquet", ".pq"))
    where = str(src.path)
    if src.is_csv:
        return raw, ".csv", where, lambda i: f"{where}:{int(raw.index[i]) + 2}"
    return raw, ".parquet", where, lambda i: f"{where} row {int(raw.index[i])}"


def _refuse_times(values: pd.Series, where) -> None:
    """Refuse a date with a time of day or a zone offset (:func:`qmtl_research.data.checks.not_date_only`)."""
    timed = not_date_only(values).to_numpy()
    if timed.any():
        i = int(np.argmax(timed))
        raise InputError(f"date {values.iloc[i]!r} carries a time of day or a zone offset", where=where(i),
                         fix="write plain dates YYYY-MM-DD, without time or zone")


def read_long(path: str | Path, value: str) -> pd.DataFrame:
    """A long table ``date, series, <value>`` (one row per date and series) from CSV or Parquet.

    ``series`` may also be named ``fund_id``, ``asset`` or ``id``; a file without it is one series
    named ``"series"``. Refused with file and line (CSV lines count the header as line 1): missing
    or empty file, no date or ``value`` column, unparsable dates, non-numeric / NaN / infinite
    values, an empty series id, a repeated ``(date, series)``.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.parquet`` or ``.pq`` file.
    value : str
        The value column to read (e.g. ``return`` or ``var``; fractions, read as written).

    Returns
    -------
    pandas.DataFrame
        ``date, series, <value>`` sorted by series then date.
    """
    raw, suffix, where, line = _read(path, "file")
    if raw.shape[0] == 0:
        raise InputError("file has no rows", where=where, fix=f"add rows date, series, {value}")
    date_col = next((c for c in raw.columns if str(c) in DATE_COLUMNS), None)
    if date_col is None:
        raise InputError(f"no date column (looked for {', '.join(DATE_COLUMNS)})", where=where,
                         fix=f"use the columns date, series, {value}")
    if value not in raw.columns:
        raise InputError(f"no {value!r} column (columns: {', '.join(map(str, raw.columns))})", where=where,
                         fix=f"use the columns date, series, {value}")
    sid_col = next((c for c in raw.columns if str(c) in SERIES_COLUMNS), None)
    _refuse_times(raw[date_col], lambda i: f"{line(i)} field {date_col}")
    dates = pd.to_datetime(raw[date_col].astype(str) if suffix == ".csv" else raw[date_col], errors="coerce")
    if dates.isna().any():
        i = int(np.argmax(dates.isna().to_numpy()))
        raise InputError(f"unparsable date {raw[date_col].iloc[i]!r}", where=f"{line(i)} field {date_col}",
                         fix="use ISO dates YYYY-MM-DD")
    sid = raw[sid_col].astype(str).str.strip() if sid_col is not None else pd.Series("series", index=raw.index)
    if (sid == "").any():
        i = int(np.argmax((sid == "").to_numpy()))
        raise InputError("empty series id", where=f"{line(i)} field {sid_col}", fix="name every series")
    col = raw[value]
    vals = pd.to_numeric(col.replace("", np.nan) if suffix == ".csv" else col, errors="coerce")
    bad = vals.isna() | ~np.isfinite(vals.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise InputError(f"missing or non-numeric {value} {col.iloc[i]!r}", where=f"{line(i)} field {value}",
                         fix=f"every row needs a numeric {value} (fractions, 0.01 = 1 %)")
    out = pd.DataFrame({"date": dates.to_numpy(), "series": sid.to_numpy(), value: vals.to_numpy(dtype=float)})
    dup = out.duplicated(["date", "series"])
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise InputError(f"series {out['series'].iloc[i]!r} has the date {out['date'].iloc[i].date()} twice",
                         where=line(i), fix="one row per date and series")
    return out.sort_values(["series", "date"], kind="stable").reset_index(drop=True)
