"""Data layer: the FundPanel and where panels come from (user files, synthetic, offline real data).

Main entry points::

    from qmtl_research.data import load_panel, load_universe, make_synthetic_universe
    panel = load_panel("returns.csv", "funds.csv", "benchmarks.csv")   # user files, validated
    panel = make_synthetic_universe(n_funds=60, seed=20230831)          # synthetic Korean universe
    panel = build_real_universe()                                       # offline real data

Also here: :mod:`~qmtl_research.data.portfolio` (portfolio specs with validated weights, the demo
and real portfolios of the audit commands) and :mod:`~qmtl_research.data.snapshot` (daily
snapshots from a positions file and prices). :func:`~qmtl_research.data.loaders.read_table` is the
one reader of data files (fund panels, positions, the CLI's return files).
"""
from qmtl_research.data.loaders import load_panel
from qmtl_research.data.panel import FundPanel
from qmtl_research.data.real import build_real_universe
from qmtl_research.data.resample import to_weekly
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.data.universe import load_universe
from qmtl_research.data.checks import validate_panel
from qmtl_research.data.writers import write_panel

__all__ = ["FundPanel", "build_real_universe", "load_panel", "load_universe", "make_synthetic_universe",
           "to_weekly", "validate_panel", "write_panel"]
