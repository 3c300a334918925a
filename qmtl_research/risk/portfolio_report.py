"""RiskReporter (the seed's S7 risk report): VaR/CVaR, Monte Carlo and stress
tests of a portfolio as of a date, optionally saved to the audit tables."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from qmtl_research.data.portfolio import PortfolioData
from qmtl_research.errors import InputError
from qmtl_research.risk import (MonteCarloConfig, MonteCarloResult, historical_scenarios, historical_var,
                                load_scenarios, simulate, stress_test)


@dataclass
class RiskReport:
    as_of: str
    portfolio_id: str
    source: str
    synthetic: bool
    n_assets: int
    portfolio_value: float
    var: pd.DataFrame               # confidence, VaR, CVaR, VaR_amount (1-day historical, seed convention)
    montecarlo: MonteCarloResult
    stress: pd.DataFrame            # scenario, kind, portfolio_loss, loss_amount
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"as_of": self.as_of, "portfolio_id": self.portfolio_id, "source": self.source,
                "synthetic": self.synthetic, "n_assets": self.n_assets, "portfolio_value": self.portfolio_value,
                "var": self.var.to_dict(orient="records"), "montecarlo": self.montecarlo.as_dict(),
                "stress": self.stress.to_dict(orient="records"), "notes": self.notes}


def generate_report(data: PortfolioData, as_of: str | None = None, mc_config: MonteCarloConfig | None = None,
                    *, lookback_days: int | None = None, scenarios=None, now=None) -> RiskReport:
    """Risk report of ``data`` using returns up to and including ``as_of``
    (default: the last date). 1-day historical VaR/CVaR (seed convention) over
    the Monte Carlo lookback window; Monte Carlo as configured; stress tests =
    user scenarios (``params/stress/``) + historical replays covered by the data."""
    cfg = mc_config or MonteCarloConfig()
    rets = data.asset_returns
    if as_of is not None:
        rets = rets.loc[: pd.Timestamp(as_of)]
        if rets.empty:
            raise InputError(f"no data on or before {as_of}", where="--date",
                             fix=f"use a date from {data.asset_returns.index[0].date()} on")
    w = data.weights
    port = pd.Series(rets[list(w.index)].to_numpy() @ w.to_numpy(), index=rets.index)
    window = port.iloc[-(lookback_days or cfg.lookback_days):]
    if window.size < cfg.min_samples:
        raise InputError(f"only {window.size} returns up to {rets.index[-1].date() if len(rets) else as_of}, "
                         f"fewer than min_samples={cfg.min_samples} (fail-closed)", where="risk report",
                         fix="choose a later --date or a longer history")
    rows = []
    for c in sorted(set(cfg.confidence_levels) | {0.95, 0.99}):
        v = historical_var(window, c)
        rows.append({"confidence": c, "VaR": v.var, "CVaR": v.cvar, "VaR_amount": v.var * data.portfolio_value})
    mc = simulate(rets, w.to_dict(), cfg, now=now)
    user = stress_test(w.to_dict(), scenarios if scenarios is not None else load_scenarios(portfolio_id=data.portfolio_id), data.portfolio_value)
    user.insert(1, "kind", "user-defined")
    hist = historical_scenarios(rets, w.to_dict(), portfolio_value=data.portfolio_value)
    hist = hist[["scenario", "portfolio_loss", "loss_amount"]].assign(kind="historical replay")
    stress = pd.concat([user, hist[["scenario", "kind", "portfolio_loss", "loss_amount"]]], ignore_index=True)
    return RiskReport(as_of=rets.index[-1].date().isoformat(), portfolio_id=data.portfolio_id, source=data.source,
                      synthetic=data.synthetic, n_assets=int(w.size), portfolio_value=data.portfolio_value,
                      var=pd.DataFrame(rows), montecarlo=mc, stress=stress,
                      notes={"var_window": int(window.size), "var_convention": "seed (historical, 1 day)"})


def save_report(report: RiskReport, repo):
    """Write the report's Monte Carlo run, VaR snapshot (linked to the run) and stress results in
    **one transaction**; a rerun for the same portfolio and as-of date is a no-op when its numbers are
    the same and refused (StoreError, nothing written) when they differ. Returns the
    :class:`~qmtl_research.store.audit_repository.SaveOutcome`."""
    return repo.save_risk_report(report)
