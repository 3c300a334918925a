"""Risk engine: pure computation shared by the audit commands, notebooks and validation rules.

* :mod:`~qmtl_research.risk.var` - historical (seed / Basel / numpy conventions),
  parametric normal and Student-t, filtered historical VaR and CVaR.
* :mod:`~qmtl_research.risk.montecarlo` - the seed's Monte Carlo (univariate or
  multivariate; historical, normal, t), chunked and reproducible.
* :mod:`~qmtl_research.risk.stress` - user-defined shocks and historical replays.
* :mod:`~qmtl_research.risk.backtest` - rolling VaR backtests, Kupiec,
  Christoffersen, Basel traffic light.
* :mod:`~qmtl_research.risk.performance` - a portfolio's :class:`PerformanceReport` (``audit performance``).
* :mod:`~qmtl_research.risk.attribution` - OLS factor attribution that adds up.
* :mod:`~qmtl_research.risk.alerts` - drawdown and daily-loss alerts.
* :mod:`~qmtl_research.risk.portfolio_report` - the VaR, Monte Carlo and stress report of a portfolio.
* :mod:`~qmtl_research.risk.audit_settings` - ``params/audit.yaml`` (snapshot, benchmark, alert limits).
* :mod:`~qmtl_research.risk.input_checks` - the input checks every risk function runs first.

Portfolio specs and daily snapshots are data (:mod:`qmtl_research.data.portfolio`,
:mod:`qmtl_research.data.snapshot`); the audit tables' persistence is
:mod:`qmtl_research.store.audit_repository`.

Losses are positive numbers; returns are fractions (0.01 = 1 %).
"""
from qmtl_research.risk.backtest import (BacktestResult, backtest_var, christoffersen_independence, kupiec_pof,
                                         rolling_var_forecasts, traffic_light)
from qmtl_research.risk.montecarlo import MonteCarloConfig, MonteCarloResult, make_config, simulate
from qmtl_research.risk.stress import (HISTORICAL_WINDOWS, StressScenario, historical_scenarios, load_scenarios,
                                       stress_test)
from qmtl_research.risk.var import (CONVENTIONS, METHODS, VaRResult, filtered_historical_var, historical_var,
                                    normal_var_es, parametric_var, t_var_es, value_at_risk, var_table)

__all__ = ["BacktestResult", "backtest_var", "christoffersen_independence", "kupiec_pof", "rolling_var_forecasts",
           "traffic_light", "MonteCarloConfig", "MonteCarloResult", "make_config", "simulate",
           "HISTORICAL_WINDOWS", "StressScenario", "historical_scenarios", "load_scenarios", "stress_test",
           "CONVENTIONS", "METHODS", "VaRResult", "filtered_historical_var", "historical_var", "normal_var_es",
           "parametric_var", "t_var_es", "value_at_risk", "var_table"]
