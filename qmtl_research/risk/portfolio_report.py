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
    """A portfolio's risk report as of a date (the seed's S7 report).

    Attributes
    ----------
    as_of : str
        Last date of the returns used, ISO ``YYYY-MM-DD``.
    portfolio_id, source : str
        The portfolio and where its data came from.
    synthetic : bool
        Whether the data is synthetic.
    n_assets : int
        Assets held.
    portfolio_value : float
        Portfolio value, in the portfolio's currency.
    var : pandas.DataFrame
        ``confidence, VaR, CVaR, VaR_amount``: 1-day historical VaR/CVaR (seed convention) as
        positive loss fractions; ``VaR_amount`` in currency.
    montecarlo : MonteCarloResult
        The Monte Carlo run (holding-period losses positive).
    stress : pandas.DataFrame
        ``scenario, kind, portfolio_loss, loss_amount``: loss a positive fraction of value (a
        gain negative), amount in currency.
    notes : dict
        The VaR window (days) and convention.
    """

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
        """The report as plain dicts and lists (tables as records)."""
        return {"as_of": self.as_of, "portfolio_id": self.portfolio_id, "source": self.source,
                "synthetic": self.synthetic, "n_assets": self.n_assets, "portfolio_value": self.portfolio_value,
                "var": self.var.to_dict(orient="records"), "montecarlo": self.montecarlo.as_dict(),
                "stress": self.stress.to_dict(orient="records"), "notes": self.notes}


def generate_report(data: PortfolioData, as_of: str | None = None, mc_config: MonteCarloConfig | None = None,
                    *, lookback_days: int | None = None, scenarios=None, now=None) -> RiskReport:
    """Risk report of ``data`` using returns up to and including ``as_of``
    (default: the last date). 1-day historical VaR/CVaR (seed convention) over
    the Monte Carlo lookback window; Monte Carlo as configured; stress tests =
    user scenarios (``params/stress/``) + historical replays covered by the data.

    Parameters
    ----------
    data : PortfolioData
        Daily asset returns (simple, fractions), weights and value of the portfolio.
    as_of : str or None
        ISO date; default the last date of the data.
    mc_config : MonteCarloConfig or None
        Monte Carlo settings (default :class:`MonteCarloConfig`).
    lookback_days : int or None
        Days of the VaR window; default the Monte Carlo's ``lookback_days``.
    scenarios : list of StressScenario, mapping or None
        User shock scenarios; default those of ``params/stress/`` for this portfolio.
    now : datetime or None
        The run's time (its run id and date); default now (UTC).

    Returns
    -------
    RiskReport
    """
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
    :class:`~qmtl_research.store.audit_repository.SaveOutcome`.

    Parameters
    ----------
    report : RiskReport
    repo : AuditRepository
        The audit tables' repository.

    Returns
    -------
    SaveOutcome
    """
    return repo.save_risk_report(report)
