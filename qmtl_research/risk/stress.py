"""Stress tests: portfolio loss under per-asset shocks.

* :func:`stress_test` - user-defined shocks (``params/stress/*.yaml``): each
  scenario gives a simple return shock per asset (``shocks``) and optionally a
  ``default_shock`` for assets it does not list. Portfolio loss =
  ``-sum_i w_i * shock_i`` (positive = loss, fraction of portfolio value).
  Shocks for assets the portfolio does not hold are ignored (scenario files are
  shared between portfolios); an asset held without a shock and without a
  default is an error.
* :func:`historical_scenarios` - named historical windows replayed from the
  data: each asset's compounded return over the window, held with the given
  weights from the window's first day (buy-and-hold); also the worst
  peak-to-trough drawdown of the daily-rebalanced portfolio inside the window.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from qmtl_research.errors import InputError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model

#: named historical windows (inclusive calendar bounds); names carry no "." so they
#: can be metric keys (``stress.<scenario>``) in dotted lookups
HISTORICAL_WINDOWS: dict[str, tuple[str, str]] = {
    "GFC 2008-09 to 2009-03": ("2008-09-01", "2009-03-31"),
    "COVID 2020-02 to 2020-03": ("2020-02-01", "2020-03-31"),
    "Rates shock 2022": ("2022-01-01", "2022-12-31"),
}


class StressScenario(BaseModel):
    """A user-defined shock scenario (``params/stress/<name>.yaml``).

    Attributes
    ----------
    name : str
        Scenario name.
    description : str
        Free text.
    default_shock : float or None
        Simple return (fraction, > -1; -0.2 = a 20 % fall) for held assets ``shocks`` does not list.
    shocks : dict of str to float
        Asset -> simple return shock (fraction, > -1).
    portfolios : list of str or None
        Portfolio ids it applies to; ``None`` = all.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    default_shock: float | None = Field(None, gt=-1.0, description="simple return for unlisted assets")
    shocks: dict[str, float] = Field(default_factory=dict, description="asset -> simple return shock (> -1)")
    portfolios: list[str] | None = Field(None, description="portfolio ids it applies to; None = all")


def load_scenarios(folder: str | Path | None = None, portfolio_id: str | None = None) -> list[StressScenario]:
    """All scenarios in ``params/stress/`` (sorted by file name), validated; with
    ``portfolio_id`` only those whose ``portfolios`` list is absent or names it.

    Parameters
    ----------
    folder : str, Path or None
        Folder of ``*.yaml`` / ``*.yml`` scenario files; default ``params/stress/``.
    portfolio_id : str or None
        Keep only the scenarios that apply to this portfolio.

    Returns
    -------
    list of StressScenario
    """
    folder = Path(folder) if folder else params_dir() / "stress"
    out = []
    for path in sorted(folder.glob("*.y*ml")):
        sc = load_model(StressScenario, path, f"stress scenario {path.name}")
        bad = {k: v for k, v in sc.shocks.items() if not (v > -1.0 and np.isfinite(v))}
        if bad:
            raise InputError(f"shocks must be finite simple returns > -1, got {bad}", where=str(path))
        if portfolio_id is None or sc.portfolios is None or portfolio_id in sc.portfolios:
            out.append(sc)
    return out


def _weights(weights: Mapping[str, float]) -> pd.Series:
    w = pd.Series(dict(weights), dtype=float)
    if w.empty or not np.isfinite(w.to_numpy()).all():
        raise InputError("weights are empty or not finite", where="weights")
    return w


def stress_test(weights: Mapping[str, float], scenarios: list[StressScenario] | Mapping[str, Mapping[str, float]],
                portfolio_value: float | None = None) -> pd.DataFrame:
    """Portfolio loss under each scenario.

    Parameters
    ----------
    weights : mapping asset -> weight (fractions of portfolio value)
    scenarios : list of StressScenario, or mapping name -> {asset: shock}
    portfolio_value : float, optional
        Adds ``loss_amount = portfolio_loss * portfolio_value``.

    Returns
    -------
    DataFrame with columns ``scenario, portfolio_loss`` (positive = loss) and
    ``loss_amount`` when a value is given.
    """
    w = _weights(weights)
    if isinstance(scenarios, Mapping):
        scenarios = [StressScenario(name=k, shocks=dict(v)) for k, v in scenarios.items()]
    rows = []
    for sc in scenarios:
        shocks = pd.Series(sc.shocks, dtype=float).reindex(w.index)
        missing = shocks.index[shocks.isna()]
        if len(missing):
            if sc.default_shock is None:
                raise InputError(f"scenario {sc.name!r} has no shock for {', '.join(map(str, missing))}",
                                 where=f"stress scenario {sc.name}", fix="add the assets or a default_shock")
            shocks = shocks.fillna(sc.default_shock)
        loss = float(-(w * shocks).sum())
        row = {"scenario": sc.name, "portfolio_loss": loss}
        if portfolio_value is not None:
            row["loss_amount"] = loss * float(portfolio_value)
        rows.append(row)
    return pd.DataFrame(rows, columns=["scenario", "portfolio_loss"] + (["loss_amount"] if portfolio_value is not None else []))


def historical_scenarios(asset_returns: pd.DataFrame, weights: Mapping[str, float],
                         windows: Mapping[str, tuple[str, str]] | None = None,
                         portfolio_value: float | None = None) -> pd.DataFrame:
    """Replay named historical windows on the data.

    Parameters
    ----------
    asset_returns : pandas.DataFrame
        Dates x assets, daily simple returns (fractions).
    weights : mapping asset -> weight
        Fractions of portfolio value, held from the window's first day.
    windows : mapping name -> (start, end) or None
        Inclusive ISO bounds; default :data:`HISTORICAL_WINDOWS`. A window is not covered when
        the data starts or ends more than 10 days inside it.
    portfolio_value : float, optional
        Adds ``loss_amount = portfolio_loss * portfolio_value``.

    Returns
    -------
    DataFrame ``scenario, start, end, days, portfolio_loss, max_drawdown``
    (+ ``loss_amount``): ``portfolio_loss`` a positive loss fraction (a gain negative),
    ``max_drawdown`` negative (or 0) as a fraction; windows the data does not cover are left out and
    listed in ``DataFrame.attrs["not_covered"]``.
    """
    w = _weights(weights)
    unknown = sorted(set(w.index) - set(asset_returns.columns))
    if unknown:
        raise InputError(f"weights name assets not in the data: {', '.join(unknown)}", where="weights")
    rets = asset_returns[list(w.index)]
    rows, not_covered = [], []
    for name, (start, end) in (windows or HISTORICAL_WINDOWS).items():
        win = rets.loc[pd.Timestamp(start):pd.Timestamp(end)]
        if win.empty or win.index[0] - pd.Timestamp(start) > pd.Timedelta(days=10) \
                or pd.Timestamp(end) - win.index[-1] > pd.Timedelta(days=10):
            not_covered.append(name)
            continue
        growth = (1.0 + win).prod() - 1.0
        loss = float(-(w * growth).sum())
        wealth = np.concatenate([[1.0], np.cumprod(1.0 + win.to_numpy() @ w.to_numpy())])
        mdd = float(np.min(wealth / np.maximum.accumulate(wealth) - 1.0))
        row = {"scenario": name, "start": win.index[0].date().isoformat(), "end": win.index[-1].date().isoformat(),
               "days": int(win.shape[0]), "portfolio_loss": loss, "max_drawdown": mdd}
        if portfolio_value is not None:
            row["loss_amount"] = loss * float(portfolio_value)
        rows.append(row)
    cols = ["scenario", "start", "end", "days", "portfolio_loss", "max_drawdown"] + \
        (["loss_amount"] if portfolio_value is not None else [])
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["not_covered"] = not_covered
    return df
