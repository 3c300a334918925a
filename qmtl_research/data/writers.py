"""Write a FundPanel as files in the user schema (``data/README.md``), so that
:func:`qmtl_research.data.loaders.load_panel` reads them back unchanged."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from qmtl_research.data.panel import FundPanel

RETURNS_FILE = "returns.parquet"
FUNDS_FILE = "funds.csv"
BENCHMARKS_FILE = "benchmarks.parquet"


def _long(wide: pd.DataFrame, key: str) -> pd.DataFrame:
    """``date, <key>, return`` rows of a wide frame (observed weeks only), columns in their order."""
    long = wide.melt(ignore_index=False, var_name=key, value_name="return").reset_index()
    long["order"] = long[key].map({c: i for i, c in enumerate(wide.columns)})
    long = long.dropna(subset=["return"]).sort_values(["order", "date"], kind="stable")
    return long[["date", key, "return"]].reset_index(drop=True)


def returns_long(panel: FundPanel) -> pd.DataFrame:
    """``date, fund_id, return`` rows (observed weeks only), funds in column order."""
    return _long(panel.returns, "fund_id")


def benchmarks_long(panel: FundPanel) -> pd.DataFrame:
    """``date, benchmark, return`` rows (observed weeks only)."""
    return _long(panel.benchmarks, "benchmark")


def funds_table(panel: FundPanel) -> pd.DataFrame:
    """The funds file: ``fund_id`` first, dates as ``YYYY-MM-DD``, empty grade for <NA>."""
    meta = panel.metadata.copy()
    meta["inception_date"] = meta["inception_date"].dt.strftime("%Y-%m-%d")
    return meta.reset_index()


def frames_for_files(panel: FundPanel) -> dict[str, pd.DataFrame]:
    """File name -> frame to write (benchmarks only when the panel has some)."""
    frames = {RETURNS_FILE: returns_long(panel), FUNDS_FILE: funds_table(panel)}
    if len(panel.benchmarks.columns):
        frames[BENCHMARKS_FILE] = benchmarks_long(panel)
    return frames


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """CSV (dates ISO, floats round-trip exact) or Parquet by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")


def write_panel(panel: FundPanel, folder: str | Path) -> dict[str, Path]:
    """Write ``returns.parquet``, ``funds.csv`` and ``benchmarks.parquet`` into ``folder``.

    Returns the written paths by role (``returns``, ``funds``, ``benchmarks``).
    """
    folder = Path(folder)
    out = {}
    for name, frame in frames_for_files(panel).items():
        write_frame(frame, folder / name)
        out[name.split(".")[0]] = folder / name
    return out
