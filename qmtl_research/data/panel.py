"""The FundPanel: weekly fund returns with metadata and benchmarks.

Conventions (the whole project relies on them):

* ``returns``: DataFrame, index = week-end dates (``DatetimeIndex``, Fridays,
  strictly increasing, name ``date``), columns = ``fund_id`` strings, values =
  weekly **simple** returns as fractions (0.01 = +1 %). NaN only before a
  fund's first observation (inception) or after its last; never inside.
* ``metadata``: DataFrame indexed by ``fund_id`` with columns
  ``name`` (str), ``fund_type`` (str), ``benchmark`` (str, a column of
  ``benchmarks`` or empty), ``inception_date`` (Timestamp),
  ``settlement_month`` (int 1-12), ``settlement_day`` (int 1-31),
  ``disclosed_grade`` (nullable Int64, 1..6).
* ``benchmarks``: DataFrame, same index as ``returns``, columns = benchmark ids,
  weekly simple returns.
* ``synthetic``: True when the data was generated; shown wherever it appears.
* ``daily`` (optional): DataFrame of **daily** simple returns (fractions), index = the
  observation dates (``DatetimeIndex`` named ``date``, increasing), columns = ``fund_id``
  (a subset of ``returns``' columns); NaN where a fund has no observation that day. Present
  when the universe is daily (``frequency: daily``); ``returns`` is then its W-FRI resample
  (:mod:`qmtl_research.data.resample`) and the daily grading measures use it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

METADATA_COLUMNS = ("name", "fund_type", "benchmark", "inception_date",
                    "settlement_month", "settlement_day", "disclosed_grade")


@dataclass(frozen=True)
class FundPanel:
    returns: pd.DataFrame
    metadata: pd.DataFrame
    benchmarks: pd.DataFrame
    source: str = "unknown"
    synthetic: bool = False
    notes: dict = field(default_factory=dict)
    daily: pd.DataFrame | None = None

    @property
    def fund_ids(self) -> list[str]:
        return list(self.returns.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.returns.index

    def fingerprint(self) -> str:
        """sha256 of returns, metadata and benchmarks (stable across runs)."""
        h = hashlib.sha256()
        frames = (self.returns, self.metadata, self.benchmarks) + ((self.daily,) if self.daily is not None else ())
        for frame in frames:
            h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
            h.update("|".join(map(str, frame.columns)).encode())
        return h.hexdigest()

    def subset(self, fund_ids) -> "FundPanel":
        fund_ids = list(fund_ids)
        daily = None if self.daily is None else self.daily[[f for f in fund_ids if f in self.daily.columns]]
        return FundPanel(self.returns[fund_ids], self.metadata.loc[fund_ids], self.benchmarks,
                         self.source, self.synthetic, dict(self.notes), daily)

    @property
    def frequency(self) -> str:
        """``"daily"`` when the panel carries daily returns, else ``"weekly"``."""
        return "weekly" if self.daily is None else "daily"

    def daily_of(self, fund_id: str) -> pd.Series | None:
        """The fund's observed daily returns (NaN days dropped), or None without daily data."""
        if self.daily is None or fund_id not in self.daily.columns:
            return None
        return self.daily[fund_id].dropna()

    def label(self) -> str:
        return f"{self.source} ({'SYNTHETIC' if self.synthetic else 'real'} data)"
