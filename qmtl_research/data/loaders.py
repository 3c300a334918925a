"""Load a fund universe from user files (CSV or Parquet) into a validated FundPanel.

The file schema (full description with examples in ``data/README.md``):

* **returns** (long form, one row per fund and week)::

      date,fund_id,return          or      date,fund_id,nav
      2020-01-03,F001,0.0123               2020-01-03,F001,1012.3

  ``date``: the Friday ending the week (ISO ``YYYY-MM-DD``); ``return``: weekly
  simple return as a fraction (0.0123 = +1.23 %); ``nav``: net asset value (> 0),
  turned into simple returns ``nav_t / nav_{t-1} - 1`` per fund (the first NAV
  of each fund gives no return). Rows of a fund in date order, no duplicates,
  no missing week between its first and last row.
* **funds** (one row per fund): ``fund_id, name, fund_type, benchmark,
  inception_date, settlement_month, settlement_day[, disclosed_grade]``; other
  columns are kept as text.
* **benchmarks** (optional, long form): ``date, benchmark, return``.

**Daily data** (``frequency="daily"``, a strategy's ``universe.frequency: daily``): the same long
form with one row per fund and observation day (business days; holidays simply absent, at most
14 calendar days between two rows of a fund). NAVs give daily returns per fund; the weekly
returns every weekly model uses are their W-FRI resample (:mod:`qmtl_research.data.resample`:
last NAV of the week, or compounded daily returns), and the daily returns are kept in
``FundPanel.daily`` for the daily grading measures. A daily benchmarks file is compounded the
same way.

Headers are matched after stripping blanks and lower-casing. The file type
follows the suffix: ``.parquet``/``.pq`` is Parquet, anything else is CSV.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qmtl_research.data import checks as v
from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError

FREQUENCIES = ("weekly", "daily")
RESAMPLE_NOTE = ("weekly = W-FRI resample of the daily data (qmtl_research.data.resample): last NAV of each week "
                 "(weekly_returns_from_prices) or compounded daily returns (weekly_returns_from_daily_returns)")

RETURNS_COLUMNS = ("date", "fund_id")
RETURN_FIELDS = ("return", "nav")
FUNDS_REQUIRED = ("fund_id", "name", "fund_type", "benchmark", "inception_date",
                  "settlement_month", "settlement_day")
BENCHMARKS_COLUMNS = ("date", "benchmark", "return")
META_TEXT_COLUMNS = ("name", "fund_type", "benchmark")
_SCHEMA = "see data/README.md for the file schema"


def read_table(path: str | Path, what: str, *, normalise_headers: bool = True,
               suffixes: tuple[str, ...] | None = None) -> tuple[pd.DataFrame, v.SourceFile]:
    """Read a CSV (all cells as text, line numbers kept) or a Parquet file: the one reader of
    the project's data files (fund panels here, the CLI's return files in :mod:`qmtl_research.risk.io`,
    position files in :mod:`qmtl_research.data.snapshot`).

    Parameters
    ----------
    path : str or Path
        The file; ``.parquet``/``.pq`` is Parquet, anything else CSV (UTF-8, a BOM allowed).
    what : str
        The file's name in error messages (``"returns file"``).
    normalise_headers : bool, default True
        Strip and lower-case the column names; False keeps them as written (asset names).
    suffixes : tuple of str, optional
        The suffixes accepted (lower case, with the dot); None accepts any.

    Returns
    -------
    (DataFrame, SourceFile)
        The cells (CSV: as text, empty cells ``""``) indexed by the 0-based data row, so
        ``SourceFile.at(index)`` names the line; fully empty CSV lines are dropped (their line
        numbers stay counted). A Parquet DatetimeIndex becomes a column.

    Raises
    ------
    InputError
        Missing or empty file, an unaccepted suffix, a file the parser cannot read.
    """
    path = Path(path)
    src = v.SourceFile(path)
    if not path.is_file():
        raise InputError(f"{what} not found", where=str(path), fix="check the path (relative paths start at the "
                         "current directory on the command line, at the project root in strategy files)")
    if path.stat().st_size == 0:
        raise InputError(f"{what} is empty", where=str(path), fix="give a header line and data rows")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"unsupported file type {path.suffix.lower()!r}", where=str(path),
                         fix=f"use {' or '.join(s for s in suffixes if s != '.pq')}")
    try:
        if src.is_csv:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                             encoding="utf-8-sig")
        else:
            df = pd.read_parquet(path)
            if isinstance(df.index, pd.DatetimeIndex):
                df = df.reset_index()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {what}: {exc}", where=str(path),
                         fix=f"give a UTF-8 CSV with a header line or a Parquet file; {_SCHEMA}") from exc
    if normalise_headers:
        df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.reset_index(drop=True)
    if src.is_csv:
        df = df.fillna("")
        blank = (df.astype(str).apply(lambda s: s.str.strip()) == "").all(axis=1)
        df = df[~blank]
    return df, src


def _check_frequency(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise InputError(f"unknown frequency {frequency!r}", where="frequency", fix="use weekly or daily")


def load_returns(path: str | Path, frequency: str = "weekly") -> tuple[pd.DataFrame, dict]:
    """Read and validate a long-form returns (or NAV) file.

    Parameters
    ----------
    path : path
        CSV or Parquet, ``date, fund_id, return|nav``.
    frequency : {"weekly", "daily"}
        Weekly rows are dated on Fridays without missing weeks; daily rows are observation days.

    Returns
    -------
    (DataFrame, dict)
        Wide weekly simple returns (index ``date`` on a complete W-FRI grid,
        columns ``fund_id`` in order of first appearance) and facts for the notes
        (``input`` = "return" | "nav", ``first_line`` per fund; for daily input ``daily``:
        the wide daily simple returns, NaN where a fund has no row that day).
    """
    _check_frequency(frequency)
    df, src = read_table(path, "returns file")
    v.check_columns(df, RETURNS_COLUMNS, src, "returns file",
                    fix=f"returns need columns date, fund_id and return (or nav); {_SCHEMA}")
    fields = [f for f in RETURN_FIELDS if f in df.columns]
    if not fields:
        v.check_columns(df, ("return",), src, "returns file",
                        fix="add a 'return' column (weekly simple returns, fractions) or a 'nav' column")
    if len(fields) == 2:
        raise InputError("returns file has both 'return' and 'nav' columns", where=f"{src.path}, header",
                         fix="keep one of them: returns (fractions) or NAVs")
    field = fields[0]
    v.check_not_empty(df, src, "returns file")
    ids = v.check_keys(df, "fund_id", src)
    dates = v.parse_dates(df["date"], src, "date", ids)
    values = v.parse_numbers(df[field], src, field, ids,
                             unit_hint=" (a fraction: 0.01 = +1 %)" if field == "return" else "")
    if field == "return":
        v.check_returns_above_minus_one(values, src, ids)
    else:
        v.check_positive(values, src, ids)
    if frequency == "daily":
        v.check_order(dates, ids, src)
        v.check_daily_gaps(dates, ids, src)
        return _daily_to_weekly(dates, ids, values, field, src)
    v.check_fridays(dates, src, ids)
    v.check_order(dates, ids, src)
    v.check_no_gaps(dates, ids, src)

    long = pd.DataFrame({"date": dates, "fund_id": ids, "value": values})
    if field == "nav":
        long["value"] = long.groupby("fund_id", sort=False)["value"].pct_change()
        long = long.dropna(subset=["value"])
        if long.empty:
            raise InputError("every fund has a single NAV, so no return can be computed", where=str(src.path),
                             fix="give at least two weekly NAVs per fund")
    order = pd.unique(ids)
    wide = long.pivot(index="date", columns="fund_id", values="value")
    grid = pd.date_range(long["date"].min(), long["date"].max(), freq="W-FRI", name="date").as_unit("us")
    kept = [f for f in order if f in wide.columns]
    wide = wide.reindex(index=grid, columns=kept).astype(float)
    wide.columns = pd.Index(kept, name="fund_id", dtype="str")
    first_line = {fid: src.at(row) for row, fid in ids.drop_duplicates().items()}
    dropped = [f for f in order if f not in kept]   # NAV funds with a single row
    return wide, {"input": field, "first_line": first_line, "single_nav_funds": dropped, "file": str(src.path)}


def _daily_to_weekly(dates: pd.Series, ids: pd.Series, values: pd.Series, field: str, src: v.SourceFile
                     ) -> tuple[pd.DataFrame, dict]:
    """Daily long rows -> (wide weekly returns, facts with the wide daily returns)."""
    from qmtl_research.data.resample import weekly_returns_from_daily_returns, weekly_returns_from_prices

    order = list(pd.unique(ids))
    long = pd.DataFrame({"date": dates, "fund_id": ids, "value": values})
    wide = long.pivot(index="date", columns="fund_id", values="value").reindex(columns=order).astype(float)
    wide.index = pd.DatetimeIndex(wide.index, name="date").as_unit("us")
    if field == "nav":
        daily = pd.DataFrame({f: wide[f].dropna().pct_change() for f in order}).reindex(wide.index)
        weekly = weekly_returns_from_prices(wide)
    else:
        daily = wide
        inside = wide.notna().cummax() & wide.notna()[::-1].cummax()[::-1]
        weekly = weekly_returns_from_daily_returns(wide.mask(inside & wide.isna(), 0.0))
    daily = daily.reindex(columns=order)
    kept = [f for f in order if weekly[f].notna().any()]
    single = [f for f in order if f not in kept]
    observed = weekly[kept].dropna(how="all").index
    grid = pd.date_range(observed.min(), observed.max(), freq="W-FRI", name="date").as_unit("us")
    weekly = weekly.reindex(index=grid, columns=kept).astype(float)
    weekly.columns = pd.Index(kept, name="fund_id", dtype="str")
    daily = daily[kept].dropna(how="all")
    daily.columns = pd.Index(kept, name="fund_id", dtype="str")
    first_line = {fid: src.at(row) for row, fid in ids.drop_duplicates().items()}
    return weekly, {"input": field, "first_line": first_line, "single_nav_funds": single, "file": str(src.path),
                    "daily": daily}


def load_funds(path: str | Path) -> pd.DataFrame:
    """Read and validate the funds metadata file; returns metadata indexed by ``fund_id``."""
    return _read_funds(path)[0]


def _read_funds(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Metadata and, per fund id, the file position of its row (for later errors)."""
    df, src = read_table(path, "funds file")
    v.check_columns(df, FUNDS_REQUIRED, src, "funds file",
                    fix=f"funds need {', '.join(FUNDS_REQUIRED)} (disclosed_grade optional); {_SCHEMA}")
    v.check_not_empty(df, src, "funds file")
    ids = v.check_keys(df, "fund_id", src)
    dup = ids.duplicated(keep=False)
    if dup.any():
        fid = ids[dup].iloc[0]
        rows = ids.index[ids == fid]
        raise InputError(f"fund {fid} appears twice ({' and '.join(src.position(r) for r in rows[:2])})",
                         where=src.at(rows[1], "fund_id", fid), fix="one row per fund")
    text = {c: df[c].astype("str").str.strip() for c in ("name", "fund_type", "benchmark")}
    no_type = text["fund_type"].isna() | (text["fund_type"] == "")
    if no_type.any():
        i = v.first_true(no_type)
        raise InputError("empty fund_type", where=src.at(df.index[i], "fund_type", ids.iloc[i]),
                         fix="give the fund's type (e.g. domestic equity)")
    inception = v.parse_dates(df["inception_date"], src, "inception_date", ids)
    month = v.parse_int_in_range(df["settlement_month"], src, "settlement_month", ids, 1, 12,
                                 fix="settlement_month is the month (1..12) of the fund's annual settlement")
    day = v.parse_int_in_range(df["settlement_day"], src, "settlement_day", ids, 1, 31,
                               fix="settlement_day is the day (1..31) of the fund's annual settlement")
    v.check_settlement_days(pd.Series(month, index=df.index), pd.Series(day, index=df.index), src, ids)
    if "disclosed_grade" in df.columns:
        grade = v.parse_int_in_range(df["disclosed_grade"], src, "disclosed_grade", ids, 1, v.MAX_GRADE,
                                     optional=True,
                                     fix="disclosed_grade is the regulatory grade 1 (highest risk) .. 6, or empty")
    else:
        grade = pd.array([pd.NA] * len(df), dtype="Int64")
    meta = pd.DataFrame({
        "name": text["name"].fillna("").to_numpy(), "fund_type": text["fund_type"].to_numpy(),
        "benchmark": text["benchmark"].fillna("").to_numpy(), "inception_date": inception.to_numpy(),
        "settlement_month": np.asarray(month, dtype=np.int64), "settlement_day": np.asarray(day, dtype=np.int64),
        "disclosed_grade": grade,
    }, index=pd.Index(ids.to_numpy(), name="fund_id", dtype="str"))
    for c in META_TEXT_COLUMNS:
        meta[c] = meta[c].astype("str")
    extras = [c for c in df.columns if c not in FUNDS_REQUIRED and c != "disclosed_grade"]
    for c in extras:
        meta[c] = df[c].astype("str").to_numpy()
    return meta, {fid: src.at(row) for fid, row in zip(ids, df.index)}



def require_fund_rows(returns: pd.DataFrame, meta: pd.DataFrame, facts: dict, funds_file: str,
                      fix: str = "add a row for it to the funds file (or remove its returns)") -> None:
    """Every fund with returns has a row in the funds file, else :class:`InputError` naming the first.

    Parameters
    ----------
    returns : DataFrame
        Wide weekly returns (one column per fund), from :func:`load_returns`.
    meta : DataFrame
        The funds file, indexed by ``fund_id`` (:func:`load_funds`).
    facts : dict
        :func:`load_returns`' facts (``first_line``: each fund's first line in the returns file).
    funds_file : str
        The funds file's name, for the message.
    fix : str
        What the user should do.
    """
    absent = [f for f in returns.columns if f not in meta.index]
    if absent:
        raise InputError(f"fund {absent[0]} has returns but no row in the funds file"
                         + (f" (also: {v.shorten(absent[1:])})" if len(absent) > 1 else ""),
                         where=f"{facts['first_line'][absent[0]]}, fund {absent[0]}; funds file {funds_file}",
                         fix=fix)


def load_benchmarks(path: str | Path, frequency: str = "weekly") -> pd.DataFrame:
    """Read and validate a long-form benchmarks file; wide weekly returns by benchmark (daily
    returns compounded within W-FRI weeks when ``frequency="daily"``)."""
    _check_frequency(frequency)
    df, src = read_table(path, "benchmarks file")
    v.check_columns(df, BENCHMARKS_COLUMNS, src, "benchmarks file",
                    fix=f"benchmarks need columns date, benchmark, return; {_SCHEMA}")
    v.check_not_empty(df, src, "benchmarks file")
    ids = v.check_keys(df, "benchmark", src)
    dates = v.parse_dates(df["date"], src, "date", ids, key="benchmark")
    values = v.parse_numbers(df["return"], src, "return", ids, key="benchmark",
                             unit_hint=" (a fraction: 0.01 = +1 %)")
    v.check_returns_above_minus_one(values, src, ids, key="benchmark")
    if frequency == "daily":
        v.check_order(dates, ids, src, key="benchmark")
        v.check_daily_gaps(dates, ids, src, key="benchmark")
        weekly, _ = _daily_to_weekly(dates, ids, values, "return", src)
        weekly.columns = pd.Index(list(weekly.columns), name="benchmark", dtype="str")
        weekly.attrs["file"] = str(src.path)
        return weekly
    v.check_fridays(dates, src, ids, key="benchmark")
    v.check_order(dates, ids, src, key="benchmark")
    v.check_no_gaps(dates, ids, src, key="benchmark")
    long = pd.DataFrame({"date": dates, "benchmark": ids, "value": values})
    order = list(pd.unique(ids))
    wide = long.pivot(index="date", columns="benchmark", values="value").reindex(columns=order).astype(float)
    wide.columns = pd.Index(order, name="benchmark", dtype="str")
    wide.attrs["file"] = str(src.path)
    return wide


def load_panel(returns_path: str | Path, funds_path: str | Path, benchmarks_path: str | Path | None = None,
               *, source: str | None = None, synthetic: bool = False, frequency: str = "weekly") -> FundPanel:
    """Load user files into a validated :class:`FundPanel`.

    Parameters
    ----------
    returns_path : path
        Long-form weekly returns or NAVs (``date, fund_id, return|nav``).
    funds_path : path
        Funds metadata (``fund_id, name, fund_type, benchmark, inception_date,
        settlement_month, settlement_day[, disclosed_grade]``).
    benchmarks_path : path, optional
        Long-form benchmark returns (``date, benchmark, return``). Without it
        every fund's ``benchmark`` must be empty.
    source, synthetic :
        Label of the panel (default: the returns file name) and whether the
        data is synthetic.
    frequency : {"weekly", "daily"}
        Daily files are resampled to W-FRI weeks for the weekly models and kept in
        ``panel.daily`` for the daily grading measures (``notes["resampled"]`` says how).

    Raises
    ------
    InputError
        On the first problem, naming the file, line, field and fund, and what to do.
        Funds listed in the funds file without returns are left out and listed in
        ``panel.notes["funds_without_returns"]``.
    """
    returns, facts = load_returns(returns_path, frequency)
    meta, lines = _read_funds(funds_path)
    funds_src = str(Path(funds_path))
    require_fund_rows(returns, meta, facts, funds_src)
    first = returns.index[np.argmax(returns.notna().to_numpy(), axis=0)]
    start = pd.DatetimeIndex(meta.loc[list(returns.columns), "inception_date"])
    early = np.flatnonzero(first <= start)
    if len(early):
        fid, first, start = returns.columns[early[0]], first[early[0]], start[early[0]]
        raise InputError(f"fund {fid} has a return dated {first.date()}, on or before its inception date "
                             f"{start.date()}", where=f"{lines.get(fid, funds_src)}, field 'inception_date', fund {fid}",
                             fix="correct the inception date or drop the returns before it")
    if benchmarks_path is not None:
        bench = load_benchmarks(benchmarks_path, frequency)
        bench = bench.reindex(returns.index)
    else:
        bench = pd.DataFrame(index=returns.index, columns=pd.Index([], name="benchmark", dtype="str"), dtype=float)
    names = meta.loc[list(returns.columns), "benchmark"]
    unknown = names[(names != "") & ~names.isin(list(bench.columns))]
    if len(unknown):
        fid, name = unknown.index[0], unknown.iloc[0]
        raise InputError(f"fund {fid} names benchmark {name!r}, which is "
                             + ("not in the benchmarks file" if benchmarks_path is not None
                                else "unknown because no benchmarks file was given"),
                             where=f"{lines.get(fid, funds_src)}, field 'benchmark', fund {fid}",
                             fix="add the benchmark's returns to the benchmarks file (date, benchmark, return), "
                                 "pass the benchmarks file, or leave the field empty")
    without = [f for f in meta.index if f not in returns.columns]
    meta = meta.loc[list(returns.columns)]
    notes = {"returns_file": str(Path(returns_path)), "funds_file": funds_src,
             "benchmarks_file": str(Path(benchmarks_path)) if benchmarks_path is not None else None,
             "input": facts["input"], "funds_without_returns": without + facts["single_nav_funds"]}
    if frequency == "daily":
        notes.update(frequency="daily", resampled=RESAMPLE_NOTE)
    panel = FundPanel(returns, meta, bench, source=source or f"files: {Path(returns_path).name}",
                      synthetic=synthetic, notes=notes, daily=facts.get("daily"))
    return v.validate_panel(panel, where=f"panel from {Path(returns_path).name}")
