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

    @property
    def fund_ids(self) -> list[str]:
        return list(self.returns.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.returns.index

    def fingerprint(self) -> str:
        """sha256 of returns, metadata and benchmarks (stable across runs)."""
        h = hashlib.sha256()
        for frame in (self.returns, self.metadata, self.benchmarks):
            h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
            h.update("|".join(map(str, frame.columns)).encode())
        return h.hexdigest()

    def subset(self, fund_ids) -> "FundPanel":
        fund_ids = list(fund_ids)
        return FundPanel(self.returns[fund_ids], self.metadata.loc[fund_ids], self.benchmarks,
                         self.source, self.synthetic, dict(self.notes))

    def label(self) -> str:
        return f"{self.source} ({'SYNTHETIC' if self.synthetic else 'real'} data)"
