"""The risk study of a portfolio strategy in one call (what ``var.ipynb`` shows and the
runner records): VaR/CVaR by method, Monte Carlo, stress tests, the VaR backtest,
performance against the benchmark, factor attribution and audit alerts.

>>> from qmtl_research.risk.study import RiskSettings, run_risk_study
>>> study = run_risk_study(load_portfolio(strategy), RiskSettings(), seed=42)   # doctest: +SKIP
>>> study.results().var_table                                                   # doctest: +SKIP

Conventions: daily **simple** returns as fractions; VaR and CVaR are losses reported as
**positive** fractions of portfolio value; the historical VaR table uses the audit seed's
definition (``convention="seed"``: ``idx = int((1 - c) n)``, ``VaR = -sorted[idx]``,
``CVaR = -mean(sorted[:idx + 1])``); performance uses 252 periods a year (the audit layer's
conventions, maximum drawdown negative there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from qmtl_research.results import RiskResults


class RiskSettings(BaseModel):
    """Settings of the risk study (the ``var`` notebook's parameters; ``None`` = default).

    Attributes
    ----------
    confidences : list of float
        VaR/CVaR confidence levels, fractions (also the Monte Carlo's levels).
    var_lookback : int
        Days of history for the VaR table.
    var_methods : list of str
        Methods of the VaR table (:data:`qmtl_research.risk.var.METHODS`).
    var_convention : str
        Historical quantile convention (:data:`qmtl_research.risk.var.CONVENTIONS`).
    mc_simulations : int
        Monte Carlo simulations.
    mc_method : {"historical", "normal", "t"}
        Monte Carlo draws.
    mc_mode : {"portfolio", "asset_multivariate"}
        Monte Carlo mode.
    mc_holding : int
        Monte Carlo holding period, days.
    mc_lookback : int
        Days of history the Monte Carlo is fitted on.
    backtest_confidence : float
        VaR level of the backtest, a fraction in (0.5, 1).
    backtest_window : int
        Rolling estimation window of the backtest, days.
    backtest_method : str
        Backtest method (:data:`qmtl_research.risk.backtest.BACKTEST_METHODS`).
    es_backtest_levels : list of float
        Levels of the VaR/ES backtest suite, fractions (FRTB: 0.975).
    es_backtest_sims : int
        Acerbi-Szekely simulations / McNeil-Frey bootstrap draws.
    performance_period : str
        Period of the performance report (:data:`qmtl_research.risk.performance.PERIODS`).
    risk_free : float
        **Annual** risk-free rate, a fraction, for Sharpe/Sortino.
    """

    model_config = ConfigDict(extra="forbid")

    confidences: list[float] = Field(default_factory=lambda: [0.95, 0.99], min_length=1)
    var_lookback: int = Field(500, ge=30, description="days of history for the VaR table")
    var_methods: list[str] = Field(default_factory=lambda: ["historical", "normal", "t", "fhs_ewma", "fhs_garch"])
    var_convention: str = Field("seed", description="historical quantile convention (qmtl_research.risk.var.CONVENTIONS)")
    mc_simulations: int = Field(20000, ge=100)
    mc_method: Literal["historical", "normal", "t"] = "t"
    mc_mode: Literal["portfolio", "asset_multivariate"] = "asset_multivariate"
    mc_holding: int = Field(5, ge=1, description="holding period of the Monte Carlo, days")
    mc_lookback: int = Field(200, ge=30, description="days of history the Monte Carlo is fitted on")
    backtest_confidence: float = Field(0.99, gt=0.5, lt=1)
    backtest_window: int = Field(250, ge=30)
    backtest_method: str = "historical"
    es_backtest_levels: list[float] = Field(default_factory=lambda: [0.975, 0.99], min_length=1,
                                            description="levels of the VaR/ES backtest suite (FRTB: 97.5 % ES)")
    es_backtest_sims: int = Field(1000, ge=99, description="Acerbi-Szekely simulations / McNeil-Frey bootstrap draws")
    performance_period: str = "ALL"
    risk_free: float = Field(0.0, description="annual risk-free rate (fraction) for Sharpe/Sortino")

    @classmethod
    def with_overrides(cls, **overrides) -> "RiskSettings":
        """Defaults updated with the overrides that are not None (a notebook's parameters).

        Parameters
        ----------
        **overrides
            Field values; ``None`` keeps the default.

        Returns
        -------
        RiskSettings
        """
        return cls(**{k: v for k, v in overrides.items() if v is not None})


@dataclass
class RiskStudy:
    """Everything the risk study computed (objects of the risk engine and the audit layer).

    Units: daily simple returns as fractions; VaR, CVaR and stress losses positive fractions of
    portfolio value (see the module docstring).

    Attributes
    ----------
    settings : RiskSettings
    data : PortfolioData
        The portfolio's data.
    var_table : pandas.DataFrame
        :func:`~qmtl_research.risk.var.var_table` over the last ``var_lookback`` days.
    montecarlo : MonteCarloResult
    stress : pandas.DataFrame
        :func:`stress_frame`'s table.
    not_covered : list of str
        Historical windows the data does not cover.
    backtest : BacktestResult
    backtest_series : pandas.DataFrame
        Date-indexed ``return, var, exception``.
    performance : PerformanceReport
    attribution : AttributionResult or None
        ``None`` without factor returns.
    alerts : pandas.DataFrame
        :func:`~qmtl_research.risk.alerts.check_alerts`' table.
    es_backtest : pandas.DataFrame or None
        The VaR/ES suite per level (:func:`~qmtl_research.risk.backtest.backtest_var_es`).
    """

    settings: RiskSettings
    data: object                    # qmtl_research.data.portfolio.PortfolioData
    var_table: pd.DataFrame
    montecarlo: object              # MonteCarloResult
    stress: pd.DataFrame
    not_covered: list
    backtest: object                # BacktestResult
    backtest_series: pd.DataFrame   # date-indexed return, var, exception
    performance: object             # PerformanceReport
    attribution: object | None      # AttributionResult
    alerts: pd.DataFrame
    es_backtest: pd.DataFrame | None = None   # the VaR/ES suite per level (risk.backtest.backtest_var_es)

    @property
    def portfolio_returns(self) -> pd.Series:
        """The portfolio's daily simple returns (fractions), named ``portfolio``."""
        return self.data.portfolio_returns.rename("portfolio")

    def results(self) -> RiskResults:
        """The section ``risk`` of the results contract."""
        d = self.data
        portfolio = pd.DataFrame({"asset": list(d.weights.index), "name": [d.names.get(a, a) for a in d.weights.index],
                                  "weight": d.weights.to_numpy(dtype=float)})
        cfg = {**self.settings.model_dump(), "data": d.label(), "synthetic": bool(d.synthetic),
               "portfolio_id": d.portfolio_id, "portfolio_value": float(d.portfolio_value),
               "montecarlo_label": self.montecarlo.method_label, "stress_not_covered": list(self.not_covered)}
        bench = d.benchmark_returns.rename("benchmark") if d.benchmark_returns is not None else None
        return RiskResults(config=cfg, portfolio=portfolio, var_table=self.var_table,
                           montecarlo=self.montecarlo.as_dict(), stress=self.stress,
                           backtest=self.backtest.as_dict(),
                           backtest_series=self.backtest_series, performance=self.performance.as_dict(),
                           attribution=self.attribution.table if self.attribution is not None else None,
                           portfolio_returns=self.portfolio_returns, benchmark_returns=bench,
                           alerts=self.alerts, es_backtest=self.es_backtest)

    def record(self, ctx) -> RiskResults:
        """Write the section ``risk`` for the run of ``ctx`` (the stage's one writer) and, for a
        recorded run, emit its audit alerts as ``audit_alert`` events (idempotent).

        Parameters
        ----------
        ctx : RunContext
            The run being recorded (its store and whether it records).

        Returns
        -------
        RiskResults
        """
        res = self.results().record(ctx)
        if ctx.recording and self.alerts is not None and len(self.alerts):
            from qmtl_research.store.audit_repository import AuditRepository

            with AuditRepository(ctx.store).transaction() as tx:
                tx.add_alerts(self.alerts, portfolio_id=self.data.portfolio_id, source="validation-report",
                              series_start=self.portfolio_returns.index[0])
        return res


def stress_frame(data, scenarios=None) -> tuple[pd.DataFrame, list]:
    """User-defined shocks (``params/stress/`` scenarios that apply to the portfolio) and
    historical windows replayed on the data, in one frame
    ``scenario, kind, portfolio_loss, loss_amount`` (loss positive; amount in the portfolio's
    currency), plus the historical windows the data does not cover.

    Parameters
    ----------
    data : PortfolioData
        Weights, value and daily asset returns of the portfolio.
    scenarios : list of StressScenario, mapping or None
        User shock scenarios; default those of ``params/stress/`` for this portfolio.

    Returns
    -------
    (pandas.DataFrame, list of str)
    """
    from qmtl_research.risk.stress import historical_scenarios, load_scenarios, stress_test

    weights = data.weights.to_dict()
    scen = scenarios if scenarios is not None else load_scenarios(portfolio_id=data.portfolio_id)
    user = stress_test(weights, scen, data.portfolio_value)
    hist = historical_scenarios(data.asset_returns, weights, portfolio_value=data.portfolio_value)
    frame = pd.concat([user.assign(kind="user-defined"),
                       hist[["scenario", "portfolio_loss", "loss_amount"]].assign(kind="historical replay")],
                      ignore_index=True)[["scenario", "kind", "portfolio_loss", "loss_amount"]]
    return frame, list(hist.attrs.get("not_covered") or [])


def run_risk_study(data, settings: RiskSettings | None = None, seed: int = 42, *, audit_settings=None) -> RiskStudy:
    """Run the risk study on a :class:`~qmtl_research.data.portfolio.PortfolioData`.

    ``audit_settings``: the audit layer's settings (default ``params/audit.yaml``) whose alert
    limits (drawdown, daily loss) are checked on the portfolio returns
    (:func:`qmtl_research.risk.alerts.check_alerts`).

    Parameters
    ----------
    data : PortfolioData
        The portfolio: daily asset returns (simple, fractions), weights, value, optional
        benchmark and factor returns.
    settings : RiskSettings or None
        Default :class:`RiskSettings`.
    seed : int
        Seed of the Monte Carlo and of the ES tests' simulations.
    audit_settings : AuditSettings or None
        Alert limits; default ``params/audit.yaml``.

    Returns
    -------
    RiskStudy
    """
    from qmtl_research.risk.alerts import check_alerts
    from qmtl_research.risk.audit_settings import load_audit_settings

    from qmtl_research.risk.attribution import factor_attribution
    from qmtl_research.risk.performance import analyze
    from qmtl_research.risk import backtest_var, make_config, simulate, var_table

    s = settings or RiskSettings()
    port = data.portfolio_returns.rename("portfolio")
    window = port.iloc[-s.var_lookback:]
    vt = var_table(window, s.confidences, tuple(s.var_methods), convention=s.var_convention)
    cfg = make_config(mode=s.mc_mode, method=s.mc_method, num_simulations=s.mc_simulations,
                      holding_period=s.mc_holding, lookback_days=s.mc_lookback,
                      confidence_levels=s.confidences, seed=seed)
    mc = simulate(data.asset_returns, data.weights.to_dict(), cfg, keep_simulations=False)
    stress, not_covered = stress_frame(data)
    bt, fc = backtest_var(port, s.backtest_confidence, s.backtest_window, s.backtest_method)
    from qmtl_research.risk.backtest import ES_METHODS, backtest_var_es

    es_method = s.backtest_method if s.backtest_method in ES_METHODS else "historical"
    es_bt = backtest_var_es(port, tuple(s.es_backtest_levels), s.backtest_window, es_method,
                            n_sims=s.es_backtest_sims, seed=seed)
    perf = analyze(port, data.benchmark_returns, s.performance_period, risk_free=s.risk_free)
    att = factor_attribution(port, data.factor_returns) if data.factor_returns is not None else None
    return RiskStudy(settings=s, data=data, var_table=vt, montecarlo=mc, stress=stress, not_covered=not_covered,
                     backtest=bt, backtest_series=fc, performance=perf, attribution=att,
                     alerts=check_alerts(port, audit_settings or load_audit_settings()), es_backtest=es_bt)
