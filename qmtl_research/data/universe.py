"""Resolve a strategy's ``universe`` config to a FundPanel.

Sources handled here:

* ``synthetic``: :func:`make_synthetic_universe` (``n_funds``, default 60; ``seed``);
* ``real``: an offline real universe (``dataset``: ``skfolio-2016-2022`` - read from ``data/real/`` when
  ``make data`` (``qmtl-research data build``) has materialised it, else built in
  memory from the installed packages; ``us-1999-2018`` - eight weekly series built from ``arch.data``);
* ``file``: the user's files (``returns_path``, ``funds_path``, optional
  ``benchmarks_path``; relative paths start at the project root).

``audit_demo`` and ``qmtl_runs`` are not fund panels; the notebooks named in the
error handle them. Generated panels are cached in memory (small, deterministic)
and every call returns fresh copies, so a caller may modify what it gets.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from qmtl_research.config import UniverseConfig
from qmtl_research.data.loaders import load_panel
from qmtl_research.data.panel import FundPanel
from qmtl_research.data.real import SOURCE as REAL_SOURCE
from qmtl_research.data.real import build_real_universe
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.data.writers import BENCHMARKS_FILE, FUNDS_FILE, RETURNS_FILE
from qmtl_research.errors import ConfigError
from qmtl_research.paths import data_dir, project_root

DEFAULT_SYNTHETIC_FUNDS = 60
_HANDLED_ELSEWHERE = {
    "audit_demo": "notebooks/var.ipynb (the risk/audit layer builds its demo portfolio from the strategy's "
                  "'portfolio' block)",
    "qmtl_runs": "notebooks/validation.ipynb (it reads the QMTL run export named by 'runs_path')",
}


def copy_panel(panel: FundPanel) -> FundPanel:
    """A deep copy (frames and notes), so cached panels are never shared."""
    import copy

    return FundPanel(panel.returns.copy(), panel.metadata.copy(), panel.benchmarks.copy(),
                     panel.source, panel.synthetic, copy.deepcopy(panel.notes),
                     None if panel.daily is None else panel.daily.copy())


@lru_cache(maxsize=4)
def _synthetic(n_funds: int, seed: int, frequency: str = "weekly") -> FundPanel:
    return make_synthetic_universe(n_funds=n_funds, seed=seed, frequency=frequency)


@lru_cache(maxsize=2)
def _real_built(daily: bool = False) -> FundPanel:
    return build_real_universe(daily=daily)


@lru_cache(maxsize=1)
def _us_1999_2018() -> FundPanel:
    from qmtl_research.data.real import build_us_1999_2018_universe

    return build_us_1999_2018_universe()


def real_data_dir() -> Path:
    return data_dir() / "real"


def synthetic_data_dir() -> Path:
    return data_dir() / "synthetic"


def load_real_universe() -> FundPanel:
    """The real universe from ``data/real/`` if materialised, else built in memory."""
    folder = real_data_dir()
    if (folder / RETURNS_FILE).is_file() and (folder / FUNDS_FILE).is_file():
        bench = folder / BENCHMARKS_FILE
        panel = load_panel(folder / RETURNS_FILE, folder / FUNDS_FILE, bench if bench.is_file() else None,
                           source=f"{REAL_SOURCE}, read from data/real/", synthetic=False)
        return panel
    return copy_panel(_real_built())


def _resolve(path: str | None, field: str) -> Path:
    if not path:
        raise ConfigError(f"universe source 'file' needs '{field}'", where=f"strategy universe.{field}",
                          fix="give the path of the file (relative to the project root or absolute); "
                              "see data/README.md for the schema")
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p


def load_universe(cfg: UniverseConfig) -> FundPanel:
    """The FundPanel for a strategy's universe config (see the module docstring)."""
    if cfg.source == "synthetic":
        return copy_panel(_synthetic(int(cfg.n_funds or DEFAULT_SYNTHETIC_FUNDS), int(cfg.seed), cfg.frequency))
    if cfg.source == "real":
        if cfg.dataset != "skfolio-2016-2022":
            if cfg.frequency == "daily":
                raise ConfigError(f"the real dataset {cfg.dataset} has no daily series here", where="strategy universe.frequency",
                                  fix="use frequency weekly, or dataset skfolio-2016-2022 for daily series")
            return copy_panel(_us_1999_2018())
        # daily: built in memory from the installed packages' daily closes (data/real/ holds the weekly files)
        return copy_panel(_real_built(True)) if cfg.frequency == "daily" else load_real_universe()
    if cfg.source == "file":
        bench = _resolve(cfg.benchmarks_path, "benchmarks_path") if cfg.benchmarks_path else None
        return load_panel(_resolve(cfg.returns_path, "returns_path"), _resolve(cfg.funds_path, "funds_path"), bench,
                          frequency=cfg.frequency)
    if cfg.source in _HANDLED_ELSEWHERE:
        raise ConfigError(f"universe source '{cfg.source}' is not a fund panel", where="strategy universe.source",
                          fix=f"it is handled by {_HANDLED_ELSEWHERE[cfg.source]}; use source synthetic, real or "
                              "file for the fund notebooks")
    raise ConfigError(f"unknown universe source '{cfg.source}'", where="strategy universe.source",
                      fix="use synthetic, real or file")
